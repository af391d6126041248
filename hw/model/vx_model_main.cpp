// Fast model of vx_feed_top: the Verilated RTL driven from C++, no per-cycle Python.
//
// The parent (velocimex/hw_engine.py) talks to it over stdin/stdout with little-endian u64
// words, so one model process keeps its book state across calls like the software engine:
//   PROCESS (1): nbytes, nmsgs, <nbytes of message blocks>, <nmsgs u64 sequence numbers>
//                -> nrecords, <nrecords x 40-byte records>
//   COUNTERS (2): -> n, <n u64>: the book counters (COUNTER_NAMES order), the framer
//                 statistics, records out, cycles simulated (all read over AXI-Lite but
//                 the cycle count)
//   QUIT (3)
//   LATENCIES (4): -> n, <n u64>: for each record of the last PROCESS, the cycles from the
//                  input beat carrying its message's last byte to the cycle the record was
//                  valid (what the cocotb top test measures). Only with --latency; without
//                  it n is 0, so the other commands and their cost are unchanged.
// Messages are wrapped into MoldUDP64 datagrams, a new datagram whenever the sequence
// numbers stop being consecutive, so the framer sees every message with exactly the
// sequence number given (duplicates and gaps included) and sequences it itself.
//
// argv: [--symbols SYM1,SYM2,...]  (empty: track every locate) [--latency]

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "Vvx_feed_top.h"
#include "verilated.h"

namespace {

constexpr uint64_t CMD_PROCESS = 1;
constexpr uint64_t CMD_COUNTERS = 2;
constexpr uint64_t CMD_QUIT = 3;
constexpr uint64_t CMD_LATENCIES = 4;

constexpr int RECORD_BYTES = 40;
constexpr size_t MOLD_HEADER = 20;
constexpr size_t MAX_PAYLOAD = 1400;  // an Ethernet-MTU datagram, as a real feed sends
constexpr uint32_t MAX_COUNT = 0xFFFE;
constexpr int DRAIN_IDLE_CYCLES = 64;

constexpr uint32_t REG_CTRL = 0x010;
constexpr uint32_t REG_SUB_COUNT = 0x018;
constexpr uint32_t REG_SUB_ADDR = 0x020;
constexpr uint32_t REG_SUB_SYM_LO = 0x024;
constexpr uint32_t REG_SUB_SYM_HI = 0x028;
constexpr uint32_t REG_CAP1 = 0x00C;
constexpr uint32_t REG_RECORDS_LO = 0x030;
constexpr uint32_t REG_COUNTER_BASE = 0x100;
constexpr uint32_t REG_FRAMER_BASE = 0x200;

const char SESSION[10] = {'V', 'X', 'M', 'O', 'D', 'E', 'L', ' ', ' ', ' '};

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "vx_model: %s\n", what);
    std::exit(2);
}

bool read_exact(void* buf, size_t n) {
    auto* p = static_cast<uint8_t*>(buf);
    while (n) {
        size_t got = std::fread(p, 1, n, stdin);
        if (got == 0) return false;
        p += got;
        n -= got;
    }
    return true;
}

uint64_t read_u64() {
    uint64_t v;
    if (!read_exact(&v, sizeof v)) die("unexpected end of input");
    return v;
}

void write_u64(uint64_t v) { std::fwrite(&v, sizeof v, 1, stdout); }

class Model {
  public:
    Model() : top_(new Vvx_feed_top) {}

    ~Model() { top_->final(); }

    // One clock cycle. Inputs are set by the caller; handshakes are sampled before the edge.
    void tick() {
        top_->clk = 0;
        top_->eval();
        if (top_->m_axis_tvalid && top_->m_axis_tready) {
            const uint32_t* w = top_->m_axis_tdata.data();
            size_t at = records_.size();
            records_.resize(at + RECORD_BYTES);
            std::memcpy(records_.data() + at, w, RECORD_BYTES);
            if (latency_) match_record(w);
        }
        in_fire_ = top_->s_axis_tvalid && top_->s_axis_tready;
        fire_cycle_ = cycles_;
        top_->clk = 1;
        top_->eval();
        ++cycles_;
    }

    void reset() {
        top_->m_axis_tready = 1;
        top_->s_axis_tvalid = 0;
        top_->s_axil_awvalid = 0;
        top_->s_axil_wvalid = 0;
        top_->s_axil_arvalid = 0;
        top_->s_axil_bready = 0;
        top_->s_axil_rready = 0;
        top_->rst = 1;
        for (int i = 0; i < 8; ++i) tick();
        top_->rst = 0;
        tick();
    }

    // AXI-Lite handshakes are sampled before each rising edge; ready and the response
    // valid can rise at the same edge, so both are watched in one loop.
    void axil_write(uint32_t addr, uint32_t data) {
        top_->s_axil_awaddr = addr;
        top_->s_axil_awprot = 0;
        top_->s_axil_wdata = data;
        top_->s_axil_wstrb = 0xF;
        top_->s_axil_awvalid = 1;
        top_->s_axil_wvalid = 1;
        top_->s_axil_bready = 1;
        bool responded = false;
        while (!responded) {
            top_->clk = 0;
            top_->eval();
            bool taken = top_->s_axil_awready && top_->s_axil_wready;
            responded = top_->s_axil_bvalid;
            tick();
            if (taken) {
                top_->s_axil_awvalid = 0;
                top_->s_axil_wvalid = 0;
            }
        }
        top_->s_axil_bready = 0;
    }

    uint32_t axil_read(uint32_t addr) {
        top_->s_axil_araddr = addr;
        top_->s_axil_arprot = 0;
        top_->s_axil_arvalid = 1;
        top_->s_axil_rready = 1;
        uint32_t data = 0;
        bool responded = false;
        while (!responded) {
            top_->clk = 0;
            top_->eval();
            bool taken = top_->s_axil_arready;
            responded = top_->s_axil_rvalid;
            data = top_->s_axil_rdata;
            tick();
            if (taken) top_->s_axil_arvalid = 0;
        }
        top_->s_axil_rready = 0;
        return data;
    }

    uint64_t axil_read64(uint32_t lo_addr) {
        uint64_t lo = axil_read(lo_addr);  // latches the high word
        uint64_t hi = axil_read(lo_addr + 4);
        return hi << 32 | lo;
    }

    void subscribe(const std::vector<std::string>& symbols) {
        for (size_t i = 0; i < symbols.size(); ++i) {
            char raw[8];
            std::memset(raw, ' ', sizeof raw);
            std::memcpy(raw, symbols[i].data(), symbols[i].size() < 8 ? symbols[i].size() : 8);
            uint32_t lo, hi;
            std::memcpy(&lo, raw, 4);
            std::memcpy(&hi, raw + 4, 4);
            axil_write(REG_SUB_ADDR, static_cast<uint32_t>(i));
            axil_write(REG_SUB_SYM_LO, lo);
            axil_write(REG_SUB_SYM_HI, hi);
        }
        axil_write(REG_SUB_COUNT, static_cast<uint32_t>(symbols.size()));
        axil_write(REG_CTRL, 1);  // enabled, MoldUDP64 framing
    }

    // Stream one datagram, 8 bytes a beat, then return (no drain). `msg_ends` (latency mode)
    // lists (offset one past the message's last byte, seq) for each message in the datagram.
    void send_datagram(const uint8_t* p, size_t n,
                       const std::vector<std::pair<size_t, uint64_t>>* msg_ends = nullptr) {
        size_t off = 0;
        size_t next_end = 0;
        while (off < n) {
            size_t k = n - off < 8 ? n - off : 8;
            uint64_t word = 0;
            std::memcpy(&word, p + off, k);
            top_->s_axis_tdata = word;
            top_->s_axis_tkeep = static_cast<uint8_t>((1u << k) - 1);
            top_->s_axis_tlast = off + k == n;
            top_->s_axis_tvalid = 1;
            tick();
            if (in_fire_) {
                off += k;
                // The beat just accepted carries the last byte of every message ending in it.
                while (msg_ends && next_end < msg_ends->size() &&
                       (*msg_ends)[next_end].first <= off) {
                    pending_.push_back({(*msg_ends)[next_end].second, fire_cycle_});
                    ++next_end;
                }
            }
        }
        top_->s_axis_tvalid = 0;
    }

    void enable_latency() { latency_ = true; }
    bool latency_enabled() const { return latency_; }
    std::vector<uint64_t>& latencies() { return latencies_; }

    void drain() {
        int idle = 0;
        size_t last = records_.size();
        while (idle < DRAIN_IDLE_CYCLES) {
            tick();
            idle = records_.size() == last ? idle + 1 : 0;
            last = records_.size();
        }
    }

    std::vector<uint8_t>& records() { return records_; }
    uint64_t cycles() const { return cycles_; }

  private:
    // Records come out in message order, a subset of the messages: the record's message is
    // the first pending one with its sequence number.
    void match_record(const uint32_t* w) {
        uint64_t seq = uint64_t(w[1]) << 32 | w[0];
        while (!pending_.empty() && pending_.front().first != seq) pending_.pop_front();
        if (pending_.empty()) die("latency mode: a record names no pending message");
        latencies_.push_back(cycles_ - pending_.front().second);
        pending_.pop_front();
    }

    std::unique_ptr<Vvx_feed_top> top_;
    std::vector<uint8_t> records_;
    uint64_t cycles_ = 0;
    bool in_fire_ = false;
    uint64_t fire_cycle_ = 0;
    bool latency_ = false;
    std::deque<std::pair<uint64_t, uint64_t>> pending_;  // (seq, cycle of its last beat)
    std::vector<uint64_t> latencies_;
};

void process(Model& model, const std::vector<uint8_t>& data, const std::vector<uint64_t>& seqs) {
    std::vector<uint8_t> dg;
    dg.reserve(MAX_PAYLOAD + 65536);
    std::vector<std::pair<size_t, uint64_t>> ends;
    const bool stamp = model.latency_enabled();
    size_t pos = 0;
    size_t i = 0;
    const size_t n = seqs.size();
    while (i < n) {
        uint64_t first = seqs[i];
        dg.assign(MOLD_HEADER, 0);
        std::memcpy(dg.data(), SESSION, sizeof SESSION);
        for (int b = 0; b < 8; ++b) dg[10 + b] = static_cast<uint8_t>(first >> (56 - 8 * b));
        uint32_t count = 0;
        ends.clear();
        while (i < n && count < MAX_COUNT) {
            if (pos + 2 > data.size()) die("message blocks end before the sequence numbers");
            size_t blk = 2 + (size_t(data[pos]) << 8 | data[pos + 1]);
            if (pos + blk > data.size()) die("message block runs past the data");
            if (count > 0 && (seqs[i] != first + count || dg.size() + blk > MAX_PAYLOAD)) break;
            dg.insert(dg.end(), data.begin() + pos, data.begin() + pos + blk);
            if (stamp) ends.push_back({dg.size(), seqs[i]});
            pos += blk;
            ++count;
            ++i;
        }
        dg[18] = static_cast<uint8_t>(count >> 8);
        dg[19] = static_cast<uint8_t>(count);
        model.send_datagram(dg.data(), dg.size(), stamp ? &ends : nullptr);
    }
    if (pos != data.size()) die("more message blocks than sequence numbers");
    model.drain();
}

std::vector<std::string> parse_symbols(int argc, char** argv, bool* latency) {
    std::vector<std::string> out;
    for (int a = 1; a < argc; ++a) {
        if (std::strcmp(argv[a], "--symbols") == 0 && a + 1 < argc) {
            std::string list = argv[++a];
            size_t start = 0;
            while (start <= list.size()) {
                size_t comma = list.find(',', start);
                if (comma == std::string::npos) comma = list.size();
                if (comma > start) out.push_back(list.substr(start, comma - start));
                start = comma + 1;
            }
        } else if (std::strcmp(argv[a], "--latency") == 0) {
            *latency = true;
        } else if (argv[a][0] == '+') {
            continue;  // Verilator plusargs
        } else {
            die("usage: vx_model [--symbols SYM1,SYM2,...] [--latency]");
        }
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    bool latency = false;
    std::vector<std::string> symbols = parse_symbols(argc, argv, &latency);
    Model model;
    if (latency) model.enable_latency();
    model.reset();
    model.subscribe(symbols);

    std::vector<uint8_t> data;
    std::vector<uint64_t> seqs;
    for (;;) {
        uint64_t cmd;
        if (!read_exact(&cmd, sizeof cmd) || cmd == CMD_QUIT) break;
        if (cmd == CMD_PROCESS) {
            uint64_t nbytes = read_u64();
            uint64_t nmsgs = read_u64();
            data.resize(nbytes);
            seqs.resize(nmsgs);
            if (!read_exact(data.data(), nbytes)) die("truncated PROCESS data");
            if (!read_exact(seqs.data(), nmsgs * 8)) die("truncated PROCESS sequence numbers");
            model.records().clear();
            model.latencies().clear();
            process(model, data, seqs);
            const std::vector<uint8_t>& rec = model.records();
            write_u64(rec.size() / RECORD_BYTES);
            std::fwrite(rec.data(), 1, rec.size(), stdout);
        } else if (cmd == CMD_COUNTERS) {
            uint32_t cap1 = model.axil_read(REG_CAP1);
            uint32_t n_counters = (cap1 >> 8) & 0xFF;
            uint32_t n_framer = (cap1 >> 16) & 0xFF;
            std::vector<uint64_t> values;
            for (uint32_t c = 0; c < n_counters; ++c) {
                values.push_back(model.axil_read64(REG_COUNTER_BASE + 8 * c));
            }
            for (uint32_t f = 0; f < n_framer; ++f) {
                values.push_back(model.axil_read(REG_FRAMER_BASE + 4 * f));
            }
            values.push_back(model.axil_read64(REG_RECORDS_LO));
            values.push_back(model.cycles());
            write_u64(values.size());
            std::fwrite(values.data(), 8, values.size(), stdout);
        } else if (cmd == CMD_LATENCIES) {
            const std::vector<uint64_t>& lat = model.latencies();
            write_u64(lat.size());
            std::fwrite(lat.data(), 8, lat.size(), stdout);
        } else {
            die("unknown command");
        }
        std::fflush(stdout);
    }
    return 0;
}
