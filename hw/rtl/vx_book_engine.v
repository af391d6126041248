// Book core: ITCH message beats in, top-of-book records out (docs/book-engine.md, bit for
// bit; docs/hardware-book-core.md describes the pipeline, its hazards and its latency).
//
// Pipelined so that no register-to-register path holds more than a compare or an add and a
// few selects (target 156.25 MHz on ECP5), and every wide RAM read passes the block RAM's
// output register and a fabric register before any logic:
//   decode     : beat decoded, counted; table messages (A F E C X D U, R that sets tracking)
//                written to the input queue (a FIFO of the issue's fields, a ring of entries)
//   order O0-O5: a queued message is issued at most every 2 cycles when no message in flight
//                writes its order sets (scoreboard); both order sets (ref1, U's ref2) are read
//                on two copies of the order table, registered, compared, selected, decided;
//                the message becomes a descriptor of up to 3 micro-ops in the descriptor queue
//   level L0-L5: one micro-op every 3 cycles: read the micro-op's side word, register it,
//                compare (bypassing the last two micro-ops' results when they wrote the same
//                side word), select, apply, write back from registers (with the order-table write
//                the micro-op carries), build the record; records leave through the output
//                queue
// After reset a clear sweep writes every table entry to zero: 2**max(ORDER_SET_BITS,
// LOCATE_BITS + 1) cycles with s_axis_tready low.
`resetall
`timescale 1ns / 1ps
`default_nettype none

`include "vx_params.vh"

module vx_book_engine #(
    parameter LOCATE_BITS = `VX_DEFAULT_LOCATE_BITS,
    parameter LEVELS = `VX_DEFAULT_LEVELS,
    parameter ORDER_SET_BITS = `VX_DEFAULT_ORDER_SET_BITS,
    parameter ORDER_WAYS = `VX_DEFAULT_ORDER_WAYS,
    parameter SUB_SYMBOLS = `VX_DEFAULT_SUB_SYMBOLS,
    parameter NUM_BOOK_COUNTERS = `VX_NUM_COUNTERS,
    parameter SUB_ADDR_WIDTH = (SUB_SYMBOLS > 1) ? $clog2(SUB_SYMBOLS) : 1,
    parameter SUB_COUNT_WIDTH = $clog2(SUB_SYMBOLS + 1)
) (
    input  wire                            clk,
    input  wire                            rst,

    // Message beats from the framer: bytes 0..39, tuser = {gap, length[15:0], seq[63:0]}
    input  wire [319:0]                    s_axis_tdata,
    /* verilator lint_off UNUSEDSIGNAL */
    // Bytes past the message length arrive as zeros, so tkeep and tlast (always 1) carry
    // nothing the core needs.
    input  wire [39:0]                     s_axis_tkeep,
    input  wire                            s_axis_tvalid,
    output wire                            s_axis_tready,
    input  wire                            s_axis_tlast,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire [80:0]                     s_axis_tuser,

    // Book-update records (RECORD_DTYPE, byte i at [8*i +: 8])
    output wire [319:0]                    m_axis_tdata,
    output wire [39:0]                     m_axis_tkeep,
    output wire                            m_axis_tvalid,
    input  wire                            m_axis_tready,
    output wire                            m_axis_tlast,

    input  wire [SUB_COUNT_WIDTH-1:0]      cfg_sub_count,
    input  wire                            cfg_sub_wr_en,
    input  wire [SUB_ADDR_WIDTH-1:0]       cfg_sub_wr_addr,
    input  wire [63:0]                     cfg_sub_wr_symbol,

    output wire [64*NUM_BOOK_COUNTERS-1:0] stat_counters,
    // HW-only statistics (not contract counters, wrap at 2**32): cycles a queued table message
    // was not issued, and cycles s_axis_tvalid waited on a low s_axis_tready outside the
    // clear sweep (back-pressure seen upstream).
    output wire [31:0]                     stat_issue_stalls,
    output wire [31:0]                     stat_input_stalls,
    // The tables are being cleared (after a reset): no message is taken until it falls.
    output wire                            busy
);

// Widths derived from the capacities.
localparam SB = ORDER_SET_BITS;
localparam WAYS = ORDER_WAYS;
localparam TAG_W = 64 - SB;
localparam LB = LOCATE_BITS;
// Counts of orders per level and beyond the held levels: up to every order in the table.
localparam CNT_W = SB + $clog2(WAYS) + 1;
localparam NH_W = $clog2(LEVELS + 1);
localparam LVL_W = 64 + CNT_W;
localparam LVLS_W = LEVELS * LVL_W;
localparam SIDE_W = LVLS_W + NH_W + CNT_W + 32;  // + bound
// Order entry: {valid, tag, locate, bid, price, shares}
localparam ENT_W = 1 + TAG_W + LB + 1 + 64;
localparam E_PRICE = 32;
localparam E_BID = 64;
localparam E_LOC = 65;
localparam E_TAG = 65 + LB;
localparam E_VALID = ENT_W - 1;
// The side-word tables are addressed by {locate, side}: one more address bit than a locate.
localparam CLR_BITS = (SB > LB + 1) ? SB : LB + 1;
localparam NC = NUM_BOOK_COUNTERS;
// Queues: input 16 deep, descriptors 8, records 8 (each plus its output register).
localparam IQ_AW = 4;
localparam DQ_AW = 3;
localparam OQ_AW = 3;
// Messages in flight between issue and their last order-table write.
localparam SBN = 8;
localparam SBN_W = 3;

localparam [7:0]
    T_A = 8'h41, T_F = 8'h46, T_E = 8'h45, T_C = 8'h43, T_X = 8'h58, T_D = 8'h44,
    T_U = 8'h55, T_R = 8'h52;

function automatic [15:0] spec_length(input [7:0] t);
    case (t)
        "A": spec_length = `VX_ITCH_LEN_ADD_ORDER;
        "B": spec_length = `VX_ITCH_LEN_BROKEN_TRADE;
        "C": spec_length = `VX_ITCH_LEN_ORDER_EXECUTED_WITH_PRICE;
        "D": spec_length = `VX_ITCH_LEN_ORDER_DELETE;
        "E": spec_length = `VX_ITCH_LEN_ORDER_EXECUTED;
        "F": spec_length = `VX_ITCH_LEN_ADD_ORDER_MPID;
        "H": spec_length = `VX_ITCH_LEN_STOCK_TRADING_ACTION;
        "I": spec_length = `VX_ITCH_LEN_NOII;
        "J": spec_length = `VX_ITCH_LEN_LULD_AUCTION_COLLAR;
        "K": spec_length = `VX_ITCH_LEN_IPO_QUOTING_PERIOD_UPDATE;
        "L": spec_length = `VX_ITCH_LEN_MARKET_PARTICIPANT_POSITION;
        "N": spec_length = `VX_ITCH_LEN_RPII;
        "O": spec_length = `VX_ITCH_LEN_DIRECT_LISTING_CAPITAL_RAISE;
        "P": spec_length = `VX_ITCH_LEN_TRADE;
        "Q": spec_length = `VX_ITCH_LEN_CROSS_TRADE;
        "R": spec_length = `VX_ITCH_LEN_STOCK_DIRECTORY;
        "S": spec_length = `VX_ITCH_LEN_SYSTEM_EVENT;
        "U": spec_length = `VX_ITCH_LEN_ORDER_REPLACE;
        "V": spec_length = `VX_ITCH_LEN_MWCB_DECLINE_LEVEL;
        "W": spec_length = `VX_ITCH_LEN_MWCB_STATUS;
        "X": spec_length = `VX_ITCH_LEN_ORDER_CANCEL;
        "Y": spec_length = `VX_ITCH_LEN_REG_SHO_RESTRICTION;
        "h": spec_length = `VX_ITCH_LEN_OPERATIONAL_HALT;
        default: spec_length = 16'd0;
    endcase
endfunction

// Big-endian wire fields of the beat (byte i at [8*i +: 8]).
function automatic [63:0] be64(input [319:0] d, input integer off);
    integer k;
    begin
        be64 = 64'd0;
        for (k = 0; k < 8; k = k + 1) be64 = {be64[55:0], d[8*(off+k) +: 8]};
    end
endfunction

function automatic [47:0] be48(input [319:0] d, input integer off);
    integer k;
    begin
        be48 = 48'd0;
        for (k = 0; k < 6; k = k + 1) be48 = {be48[39:0], d[8*(off+k) +: 8]};
    end
endfunction

function automatic [31:0] be32(input [319:0] d, input integer off);
    integer k;
    begin
        be32 = 32'd0;
        for (k = 0; k < 4; k = k + 1) be32 = {be32[23:0], d[8*(off+k) +: 8]};
    end
endfunction

// One-hot select of a way's entry (static AND-OR, no index mux).
function automatic [ENT_W-1:0] pick_way(input [WAYS*ENT_W-1:0] ways, input [WAYS-1:0] sel);
    integer k;
    begin
        pick_way = 0;
        for (k = 0; k < WAYS; k = k + 1) begin
            pick_way = pick_way | (ways[k*ENT_W +: ENT_W] & {ENT_W{sel[k]}});
        end
    end
endfunction

// Lowest set bit, one-hot.
function automatic [WAYS-1:0] lowest_way(input [WAYS-1:0] v);
    integer k;
    reg seen;
    begin
        lowest_way = 0;
        seen = 1'b0;
        for (k = 0; k < WAYS; k = k + 1) begin
            lowest_way[k] = v[k] && !seen;
            seen = seen || v[k];
        end
    end
endfunction

// ---------------------------------------------------------------------------------------
// Reset: clear sweep
reg clearing_reg;
reg [CLR_BITS-1:0] clr_addr_reg;

always @(posedge clk) begin
    if (clearing_reg) begin
        clr_addr_reg <= clr_addr_reg + 1'b1;
        if (&clr_addr_reg) begin
            clearing_reg <= 1'b0;
        end
    end
    if (rst) begin
        clearing_reg <= 1'b1;
        clr_addr_reg <= 0;
    end
end

// ---------------------------------------------------------------------------------------
// Counters: every counter has a single source stage, which handles at most one message or
// micro-op per cycle.
reg [63:0] counter_reg [0:NC-1];
reg [NC-1:0] cnt_dec_inc;   // decode
reg [NC-1:0] cnt_ord_inc;   // order phase O4
reg [NC-1:0] cnt_lvl_inc;   // level phase L3
reg [NC-1:0] cnt_rec_inc;   // record push
// The events registered once more beside the counters: the sources sit in the stages that see
// them, the 64-bit counters next to the register block's read, and a single register between
// them pulled the sources' decode logic across the die.
reg [NC-1:0] cnt_inc_reg;
// Cycles with a table message at the head of the input queue that was not issued (order-set
// conflict, scoreboard or descriptor queue full, issue spacing).
reg [31:0] issue_stalls_reg;
reg issue_stall_reg;   // this cycle's stall, counted next cycle (off the issue decision)
assign stat_issue_stalls = issue_stalls_reg;
integer ci;

always @(posedge clk) begin
    cnt_inc_reg <= cnt_dec_inc | cnt_ord_inc | cnt_lvl_inc | cnt_rec_inc;
    for (ci = 0; ci < NC; ci = ci + 1) begin
        counter_reg[ci] <= counter_reg[ci] + {63'd0, cnt_inc_reg[ci]};
    end
    if (rst) begin
        cnt_inc_reg <= 0;
        for (ci = 0; ci < NC; ci = ci + 1) begin
            counter_reg[ci] <= 64'd0;
        end
    end
end

genvar gc;
generate
    for (gc = 0; gc < NC; gc = gc + 1) begin : cnt
        // The framer owns the sequence counters; their slots read zero here.
        assign stat_counters[64*gc +: 64] =
            (gc == `VX_CNT_SEQ_GAPS || gc == `VX_CNT_SEQ_DUPLICATES) ? 64'd0 : counter_reg[gc];
    end
endgenerate


// ---------------------------------------------------------------------------------------
// Decode (combinational on the presented beat), registered into the input queue's write
wire [7:0] in_type = s_axis_tdata[7:0];
wire [15:0] in_len = s_axis_tuser[79:64];
wire in_gap = s_axis_tuser[80];
wire [15:0] in_spec_len = spec_length(in_type);
wire in_unknown = in_len != 0 && in_spec_len == 0;
// A zero-length block has no type byte: a bad length, not an unknown type.
wire in_bad_len = in_len == 0 || (in_spec_len != 0 && in_len != in_spec_len);
wire in_len_ok = !in_unknown && !in_bad_len;
wire in_is_book = in_len_ok && (in_type == T_A || in_type == T_F || in_type == T_E ||
    in_type == T_C || in_type == T_X || in_type == T_D || in_type == T_U);
wire in_is_r = in_len_ok && in_type == T_R;
wire in_is_af = in_type == T_A || in_type == T_F;
wire in_is_u = in_type == T_U;
wire [15:0] in_locate = {s_axis_tdata[8*`VX_ITCH_A_STOCK_LOCATE_OFFSET +: 8],
    s_axis_tdata[8*(`VX_ITCH_A_STOCK_LOCATE_OFFSET+1) +: 8]};
wire [63:0] in_ref1 = be64(s_axis_tdata, `VX_ITCH_A_ORDER_REF_OFFSET);
wire [63:0] in_ref2 = be64(s_axis_tdata, `VX_ITCH_U_NEW_ORDER_REF_OFFSET);
wire [31:0] in_shares = in_is_af ? be32(s_axis_tdata, `VX_ITCH_A_SHARES_OFFSET) :
    in_is_u ? be32(s_axis_tdata, `VX_ITCH_U_SHARES_OFFSET) :
    be32(s_axis_tdata, `VX_ITCH_E_EXECUTED_SHARES_OFFSET);
wire [31:0] in_price = in_is_af ? be32(s_axis_tdata, `VX_ITCH_A_PRICE_OFFSET) :
    be32(s_axis_tdata, `VX_ITCH_U_PRICE_OFFSET);
wire [47:0] in_ts = be48(s_axis_tdata, `VX_ITCH_A_TIMESTAMP_OFFSET);
wire in_bid = s_axis_tdata[8*`VX_ITCH_A_SIDE_OFFSET +: 8] == "B";
// The stock field as on the wire, byte 0 in bits 7:0: compared with cfg_sub_wr_symbol as is.
wire [63:0] in_stock = s_axis_tdata[8*`VX_ITCH_R_STOCK_OFFSET +: 64];
wire in_locate_ok = (in_locate >> LB) == 0;
// "shares or price is zero" from every candidate field in parallel, selected by type after
wire in_zero = in_is_af ?
        (be32(s_axis_tdata, `VX_ITCH_A_SHARES_OFFSET) == 0 ||
         be32(s_axis_tdata, `VX_ITCH_A_PRICE_OFFSET) == 0) :
    in_is_u ?
        (be32(s_axis_tdata, `VX_ITCH_U_SHARES_OFFSET) == 0 ||
         be32(s_axis_tdata, `VX_ITCH_U_PRICE_OFFSET) == 0) :
        (be32(s_axis_tdata, `VX_ITCH_E_EXECUTED_SHARES_OFFSET) == 0 ||
         be32(s_axis_tdata, `VX_ITCH_U_PRICE_OFFSET) == 0);

reg s_ready_reg;
wire accept = s_axis_tvalid && s_ready_reg;
assign s_axis_tready = s_ready_reg;

// Subscription table (registers). Each entry's compare is registered with the decoded beat
// as four 16-bit compares; they are ANDed, and the entries ORed, on the way into the queue.
reg [63:0] sub_symbol_reg [0:SUB_SYMBOLS-1];
reg [SUB_SYMBOLS-1:0] sub_on_reg;   // entry i < cfg_sub_count, registered from the setting
// The table is empty (every locate tracked): registered too, so no path starts at the
// register block, which sits wherever the AXI-Lite logic is placed.
reg sub_all_reg;
integer si;

always @(posedge clk) begin
    if (cfg_sub_wr_en) begin
        sub_symbol_reg[cfg_sub_wr_addr] <= cfg_sub_wr_symbol;
    end
    for (si = 0; si < SUB_SYMBOLS; si = si + 1) begin
        sub_on_reg[si] <= si < cfg_sub_count;
    end
    sub_all_reg <= cfg_sub_count == 0;
end

// Queue entry: {rejected, is_r, is_d, is_u, is_af, r_match, gap, ref2, ref1, price, shares,
// bid, locate, ts, seq, type}; the type flags are decoded once, here.
localparam Q_W = 8 + 64 + 48 + 16 + 1 + 32 + 32 + 64 + 64 + 1 + 1 + 5;
localparam Q_RVAL = 330;
localparam Q_AF = 331;
localparam Q_U = 332;
localparam Q_D = 333;
localparam Q_R = 334;
localparam Q_REJ = 335;
reg gap_sticky_reg;
reg dq_valid_reg;   // decoded beat is a table message
reg [Q_RVAL-1:0] dq_fields_reg;
reg [4:0] dq_flags_reg;
reg [4*SUB_SYMBOLS-1:0] dq_match_reg;   // entry i's 16-bit chunk k at [4*i + k]

always @(posedge clk) begin
    dq_valid_reg <= 1'b0;
    cnt_dec_inc <= 0;
    if (accept) begin
        gap_sticky_reg <= gap_sticky_reg || in_gap;
        cnt_dec_inc[`VX_CNT_MESSAGES] <= 1'b1;
        cnt_dec_inc[`VX_CNT_UNKNOWN_TYPE] <= in_unknown;
        cnt_dec_inc[`VX_CNT_BAD_LENGTH] <= in_bad_len;
        cnt_dec_inc[`VX_CNT_BOOK_MESSAGES] <= in_is_book;
        // An R decides tracking only when the subscription table is in use (an empty table
        // tracks every locate) and the locate is in range.
        dq_valid_reg <= in_is_book || (in_is_r && in_locate_ok && !sub_all_reg);
        dq_flags_reg <= {in_zero, in_type == T_R, in_type == T_D,
            in_is_u, in_is_af};
        dq_fields_reg <= {gap_sticky_reg || in_gap, in_ref2, in_ref1, in_price, in_shares,
            in_bid, in_locate, in_ts, s_axis_tuser[63:0], in_type};
        for (si = 0; si < SUB_SYMBOLS; si = si + 1) begin
            dq_match_reg[4*si] <= sub_on_reg[si] && sub_symbol_reg[si][15:0] == in_stock[15:0];
            dq_match_reg[4*si+1] <= sub_symbol_reg[si][31:16] == in_stock[31:16];
            dq_match_reg[4*si+2] <= sub_symbol_reg[si][47:32] == in_stock[47:32];
            dq_match_reg[4*si+3] <= sub_symbol_reg[si][63:48] == in_stock[63:48];
        end
    end
    if (rst) begin
        gap_sticky_reg <= 1'b0;
        dq_valid_reg <= 1'b0;
        cnt_dec_inc <= 0;
    end
end

reg dq_match;

always @* begin
    dq_match = 1'b0;
    for (si = 0; si < SUB_SYMBOLS; si = si + 1) begin
        dq_match = dq_match || &dq_match_reg[4*si +: 4];
    end
end

wire [Q_W-1:0] iq_in = {dq_flags_reg, dq_match, dq_fields_reg};
wire iq_valid;
wire iq_pop;
wire [IQ_AW:0] iq_count;
// The input queue: a FIFO of what the issue decision reads (type flags and order sets), whose
// output register is the head, and beside it a ring of whole entries in LUT RAM, written in
// the same order and read at the head's slot straight into O1's register. The ring has no
// output register, so the issue moves one read pointer instead of enabling a 336-bit
// register. Entries live in the ring from their push to their issue: the FIFO's words plus
// its head, at most 2**IQ_AW: the input stops at 2**IQ_AW - 4 words with 3 more on the way.
localparam QN_W = 2 + 2 * SB;
wire [QN_W-1:0] iqn_out;

vx_book_fifo #(.WIDTH(QN_W), .ADDR_WIDTH(IQ_AW)) in_queue (
    .clk(clk), .rst(rst),
    .in_data({iq_in[Q_R], iq_in[Q_U], iq_in[265 +: SB], iq_in[201 +: SB]}),
    .in_valid(dq_valid_reg),
    .out_data(iqn_out), .out_valid(iq_valid), .out_pop(iq_pop),
    .count(iq_count)
);

reg [Q_W-1:0] iq_ring [0:(1 << IQ_AW)-1];
reg [IQ_AW-1:0] iq_ring_wr_reg;
reg [IQ_AW-1:0] iq_ring_rd_reg;
wire [Q_W-1:0] iq_out = iq_ring[iq_ring_rd_reg];

always @(posedge clk) begin
    if (dq_valid_reg) begin
        iq_ring[iq_ring_wr_reg] <= iq_in;
        iq_ring_wr_reg <= iq_ring_wr_reg + 1'b1;
    end
    if (iq_pop) begin
        iq_ring_rd_reg <= iq_ring_rd_reg + 1'b1;
    end
    if (rst) begin
        iq_ring_wr_reg <= 0;
        iq_ring_rd_reg <= 0;
    end
end

// Room for the beats that may already be on their way: accepted in this cycle, in the
// decode register, and the one accepted while this register was computed.
always @(posedge clk) begin
    s_ready_reg <= !clearing_reg && iq_count <= (1 << IQ_AW) - 4;
    if (rst) begin
        s_ready_reg <= 1'b0;
    end
end

// Input stalls: s_ready_reg lags clearing_reg by one cycle, so the sweep's own hold (and
// the reset cycle) is excluded with the delayed flag; what is left is a full input queue.
reg clearing_d_reg;
reg [31:0] input_stalls_reg;
assign stat_input_stalls = input_stalls_reg;
assign busy = clearing_reg;

always @(posedge clk) begin
    clearing_d_reg <= clearing_reg;
    if (s_axis_tvalid && !s_ready_reg && !clearing_d_reg) begin
        input_stalls_reg <= input_stalls_reg + 1'b1;
    end
    if (rst) begin
        clearing_d_reg <= 1'b1;
        input_stalls_reg <= 32'd0;
    end
end

wire h_is_r = iqn_out[QN_W-1];
wire h_is_u = iqn_out[QN_W-2];
// Order sets of the named reference and of U's new reference.
wire [SB-1:0] h_set1 = iqn_out[0 +: SB];
wire [SB-1:0] h_set2 = iqn_out[SB +: SB];

// ---------------------------------------------------------------------------------------
// Tables
reg [WAYS-1:0] ord_wr_en;
reg [SB-1:0] ord_wr_addr;
reg [ENT_W-1:0] ord_wr_data;
wire [WAYS*ENT_W-1:0] ord_a_rd_data;
wire [WAYS*ENT_W-1:0] ord_b_rd_data;

// Level words: one side word per {locate, side} (a micro-op reads and writes only its own
// side); the summary of the same side word (its top and flags, for the record) in a small
// table read at the other side's address; the instrument bits per locate.
localparam OS_W = 66;   // {truncated, unknown, slot 0 qty, slot 0 price}
reg [LB-1:0] lvl_rd_addr;
reg lvl_rd_bid;
wire [SIDE_W-1:0] side_rd_data;
wire [OS_W-1:0] osum_rd_data;
wire [1:0] inst_rd_data;   // {orders_lost, tracked}
reg lvl_wr_en;
reg side_wr_en;
reg [LB-1:0] lvl_wr_addr;
reg lvl_wr_bid;
reg [SIDE_W-1:0] side_wr_data;
reg [OS_W-1:0] osum_wr_data;
reg [1:0] inst_wr_data;

// Two copies of every way, written alike: copy A is read at the named reference's set,
// copy B at U's new reference's set, in the same cycle. They read the head's sets every
// cycle: the order stages never stall, so the words read at the issue reach O2 whatever is
// read after, and the issue decision need not reach every order-table block RAM.
genvar gw;
generate
    for (gw = 0; gw < WAYS; gw = gw + 1) begin : way
        vx_book_ram #(.WIDTH(ENT_W), .ADDR_WIDTH(SB), .OUT_REG(1)) order_ram_a (
            .clk(clk),
            .wr_en(ord_wr_en[gw]), .wr_addr(ord_wr_addr), .wr_data(ord_wr_data),
            .rd_en(1'b1), .rd_addr(h_set1),
            .rd_data(ord_a_rd_data[gw*ENT_W +: ENT_W])
        );
        vx_book_ram #(.WIDTH(ENT_W), .ADDR_WIDTH(SB), .OUT_REG(1)) order_ram_b (
            .clk(clk),
            .wr_en(ord_wr_en[gw]), .wr_addr(ord_wr_addr), .wr_data(ord_wr_data),
            .rd_en(1'b1), .rd_addr(h_set2),
            .rd_data(ord_b_rd_data[gw*ENT_W +: ENT_W])
        );
    end
endgenerate

vx_book_ram #(.WIDTH(SIDE_W), .ADDR_WIDTH(LB + 1), .OUT_REG(1)) side_ram (
    .clk(clk), .wr_en(side_wr_en), .wr_addr({lvl_wr_addr, lvl_wr_bid}), .wr_data(side_wr_data),
    .rd_en(1'b1), .rd_addr({lvl_rd_addr, lvl_rd_bid}),
    .rd_data(side_rd_data)
);

vx_book_ram #(.WIDTH(OS_W), .ADDR_WIDTH(LB + 1), .OUT_REG(1)) osum_ram (
    .clk(clk), .wr_en(side_wr_en), .wr_addr({lvl_wr_addr, lvl_wr_bid}), .wr_data(osum_wr_data),
    .rd_en(1'b1), .rd_addr({lvl_rd_addr, !lvl_rd_bid}),
    .rd_data(osum_rd_data)
);

vx_book_ram #(.WIDTH(2), .ADDR_WIDTH(LB), .OUT_REG(1)) inst_ram (
    .clk(clk), .wr_en(lvl_wr_en), .wr_addr(lvl_wr_addr), .wr_data(inst_wr_data),
    .rd_en(1'b1), .rd_addr(lvl_rd_addr), .rd_data(inst_rd_data)
);

// ---------------------------------------------------------------------------------------
// Order phase. Scoreboard: the order sets of every message between issue and its last
// order-table write; a message whose sets meet one of them waits (no forwarding needed).
reg [SBN-1:0] sb_valid_reg;
reg [SBN-1:0] sb_use1_reg;
reg [SBN-1:0] sb_use2_reg;
reg [SB-1:0] sb_set1_reg [0:SBN-1];
reg [SB-1:0] sb_set2_reg [0:SBN-1];
reg [SBN-1:0] sb_free_ord;   // freed by O5 (a message without micro-ops)
// A message without micro-ops frees its scoreboard slot from O5's register (a cycle late,
// which only holds a waiting message back longer).
reg p5_free;
reg [SBN_W-1:0] p5_slot;
reg [SBN-1:0] sb_free_lvl;   // freed by L3 (a message's last micro-op)
// The issue's inputs, all registered: the head is fresh (valid and not issued last cycle,
// so issues are at least 2 cycles apart) with room downstream, and which live scoreboard
// slots its sets meet.
reg go_reg;
wire h_use1 = !h_is_r;
wire h_use2 = h_is_u;
reg [SBN-1:0] head_hit, hitv_reg;
reg [SBN-1:0] sb_alloc;
reg [SBN_W-1:0] sb_alloc_idx;
// The slot an issue takes, chosen last cycle: no issue happened last cycle (issues are 2
// cycles apart), so it is still free; a slot freed since is only picked a cycle later.
reg [SBN-1:0] sb_alloc_reg;
reg [SBN_W-1:0] sb_alloc_idx_reg;
reg sb_seen;
integer ei;

function automatic sets_meet(input use1a, input use2a, input [SB-1:0] set1a,
                             input [SB-1:0] set2a, input use1b, input use2b,
                             input [SB-1:0] set1b, input [SB-1:0] set2b);
    sets_meet = (use1a && use1b && set1a == set1b) || (use1a && use2b && set1a == set2b) ||
        (use2a && use1b && set2a == set1b) || (use2a && use2b && set2a == set2b);
endfunction

always @* begin
    sb_alloc = 0;
    sb_alloc_idx = 0;
    sb_seen = 1'b0;
    for (ei = 0; ei < SBN; ei = ei + 1) begin
        head_hit[ei] = sets_meet(h_use1, h_use2, h_set1, h_set2,
            sb_use1_reg[ei], sb_use2_reg[ei], sb_set1_reg[ei], sb_set2_reg[ei]);
        if (!sb_valid_reg[ei] && !sb_seen) begin
            sb_alloc[ei] = 1'b1;
            sb_alloc_idx = ei[SBN_W-1:0];
        end
        sb_seen = sb_seen || !sb_valid_reg[ei];
    end
end

wire [DQ_AW:0] dq_count;
// go_reg: the head was there last cycle and not issued (so it is still the head: the queue
// keeps its output until a pop), and last cycle's registers showed room for every message
// issued and not yet in the descriptor queue (the queue may have taken one word since, hence
// one word of margin) and a free scoreboard slot (none was taken since: no issue).
// hitv_reg: the live slots the head's sets meet, as the slots stand now: a fresh head means no
// issue last cycle, so this cycle's valid bits are last cycle's less last cycle's frees, and
// a slot's sets change only when an issue takes it.
wire issue = go_reg && !(|hitv_reg);
assign iq_pop = issue;

always @(posedge clk) begin
    go_reg <= iq_valid && !issue && !(&sb_valid_reg) && dq_count <= (1 << DQ_AW) - 5;
    hitv_reg <= head_hit & sb_valid_reg & ~sb_free_ord & ~sb_free_lvl;
    issue_stall_reg <= iq_valid && !issue && !clearing_reg;
    if (issue_stall_reg) begin
        issue_stalls_reg <= issue_stalls_reg + 1'b1;
    end
    sb_alloc_reg <= sb_alloc;
    sb_alloc_idx_reg <= sb_alloc_idx;
    sb_valid_reg <= (sb_valid_reg & ~sb_free_ord & ~sb_free_lvl) | (issue ? sb_alloc_reg : 0);
    for (ei = 0; ei < SBN; ei = ei + 1) begin
        if (issue && sb_alloc_reg[ei]) begin
            sb_use1_reg[ei] <= h_use1;
            sb_use2_reg[ei] <= h_use2;
            sb_set1_reg[ei] <= h_set1;
            sb_set2_reg[ei] <= h_set2;
        end
    end
    if (rst) begin
        go_reg <= 1'b0;
        sb_valid_reg <= 0;
        issue_stalls_reg <= 32'd0;
        issue_stall_reg <= 1'b0;
    end
end

// Order stages: O1, O1X (the RAMs' read latches and output registers), O2 (fabric register,
// compare), O3 (select), O4 (decide), O5 (descriptor register).
localparam M_W = Q_W + SBN_W;   // message bundle: queue entry + scoreboard slot
reg p1_valid, p1x_valid, p2_valid, p3_valid, p4_valid;
reg [M_W-1:0] p1_msg, p1x_msg, p2_msg, p3_msg, p4_msg;
reg p1_same, p1x_same, p2_same, p3_same;
// O2's ways: read at O0, in the order RAMs' output registers (OUT_REG) at O1X, registered
// once more in the fabric beside the compare.
reg [WAYS*ENT_W-1:0] p2_ways_a, p2_ways_b;
reg [WAYS*ENT_W-1:0] p3_ways_a, p3_ways_b;
reg [WAYS-1:0] p3_eq_a, p3_eq_b, p3_valid_a, p3_valid_b;
reg p4_oor;
reg p4_tgt_hit, p4_dup_hit, p4_full, p4_tgt_lt;
reg [31:0] p4_tgt_left;
reg [WAYS-1:0] p4_tgt_way, p4_dup_way, p4_free_way;
reg [ENT_W-1:0] p4_tgt_ent, p4_dup_ent;

reg [WAYS-1:0] o2_eq_a, o2_eq_b, o2_valid_a, o2_valid_b;
integer wi;

always @* begin
    for (wi = 0; wi < WAYS; wi = wi + 1) begin
        o2_valid_a[wi] = p2_ways_a[wi*ENT_W + E_VALID];
        o2_valid_b[wi] = p2_ways_b[wi*ENT_W + E_VALID];
        o2_eq_a[wi] = o2_valid_a[wi] &&
            p2_ways_a[wi*ENT_W + E_TAG +: TAG_W] == p2_msg[201 + SB +: TAG_W];
        o2_eq_b[wi] = o2_valid_b[wi] &&
            p2_ways_b[wi*ENT_W + E_TAG +: TAG_W] == p2_msg[265 + SB +: TAG_W];
    end
end

// O3: the named order (ref1 in copy A), the live holder of the reference being added (A F:
// ref1 in A; U: ref2 in B, where the original's way counts as free and not as a holder when
// both references share a set) and the lowest free way of the add's set.
wire p3_is_u = p3_msg[Q_U];
wire [WAYS-1:0] o3_orig_in_b = p3_same ? p3_eq_a : {WAYS{1'b0}};
wire [WAYS-1:0] o3_dup_u = p3_eq_b & ~o3_orig_in_b;
wire [WAYS-1:0] o3_dup = p3_is_u ? o3_dup_u : p3_eq_a;
wire [WAYS-1:0] o3_free = p3_is_u ? (~p3_valid_b | o3_orig_in_b | o3_dup_u) :
    (~p3_valid_a | p3_eq_a);
wire [ENT_W-1:0] o3_tgt_ent = pick_way(p3_ways_a, p3_eq_a);
// E C X: the message's shares against every way's shares left, in O2 beside the tag
// compare (so no later stage has a carry chain): fewer than left, and what is left after
// them; O3 selects the named way's.
wire [31:0] o2_shares = p2_msg[137 +: 32];
reg [WAYS-1:0] o2_lt, p3_lt;
reg [WAYS*32-1:0] o2_left, p3_left;
reg o3_tgt_lt;
reg [31:0] o3_tgt_left;
integer lwi;

always @* begin
    for (lwi = 0; lwi < WAYS; lwi = lwi + 1) begin
        o2_lt[lwi] = o2_shares < p2_ways_a[lwi*ENT_W +: 32];
        o2_left[lwi*32 +: 32] = p2_ways_a[lwi*ENT_W +: 32] - o2_shares;
    end
    o3_tgt_lt = 1'b0;
    o3_tgt_left = 32'd0;
    for (lwi = 0; lwi < WAYS; lwi = lwi + 1) begin
        if (p3_eq_a[lwi]) begin
            o3_tgt_lt = o3_tgt_lt | p3_lt[lwi];
            o3_tgt_left = o3_tgt_left | p3_left[lwi*32 +: 32];
        end
    end
end

always @(posedge clk) begin
    p1_valid <= issue;
    p1_msg <= {sb_alloc_idx_reg, iq_out};
    p1_same <= h_set1 == h_set2;
    p1x_valid <= p1_valid;
    p1x_msg <= p1_msg;
    p1x_same <= p1_same;
    p2_valid <= p1x_valid;
    p2_msg <= p1x_msg;
    p2_same <= p1x_same;
    p2_ways_a <= ord_a_rd_data;
    p2_ways_b <= ord_b_rd_data;
    p3_valid <= p2_valid;
    p3_msg <= p2_msg;
    p3_same <= p2_same;
    p3_ways_a <= p2_ways_a;
    p3_ways_b <= p2_ways_b;
    p3_eq_a <= o2_eq_a;
    p3_lt <= o2_lt;
    p3_left <= o2_left;
    p3_eq_b <= o2_eq_b;
    p3_valid_a <= o2_valid_a;
    p3_valid_b <= o2_valid_b;
    p4_valid <= p3_valid;
    p4_msg <= p3_msg;
    p4_oor <= (p3_msg[120 +: 16] >> LB) != 0;
    p4_tgt_hit <= |p3_eq_a;
    p4_tgt_way <= p3_eq_a;
    p4_tgt_ent <= o3_tgt_ent;
    p4_tgt_lt <= o3_tgt_lt;
    p4_tgt_left <= o3_tgt_left;
    p4_dup_hit <= |o3_dup;
    p4_dup_way <= o3_dup;
    p4_dup_ent <= p3_is_u ? pick_way(p3_ways_b, o3_dup_u) : o3_tgt_ent;
    p4_free_way <= lowest_way(o3_free);
    p4_full <= o3_free == 0;
    if (rst) begin
        p1_valid <= 1'b0;
        p1x_valid <= 1'b0;
        p2_valid <= 1'b0;
        p3_valid <= 1'b0;
        p4_valid <= 1'b0;
    end
end

// O4: what the message does (docs/book-engine.md, per message), as up to 3 micro-ops.
wire [7:0] m_type = p4_msg[7:0];
wire [LB-1:0] m_loc = p4_msg[120 +: LB];   // the locate's bits in range (m_oor: any above)
wire m_bid = p4_msg[136];
wire [31:0] m_shares = p4_msg[137 +: 32];
wire [31:0] m_price = p4_msg[169 +: 32];
wire [63:0] m_ref1 = p4_msg[201 +: 64];
wire [63:0] m_ref2 = p4_msg[265 +: 64];
wire m_rval = p4_msg[Q_RVAL];
wire [SBN_W-1:0] m_slot = p4_msg[Q_W +: SBN_W];
wire m_is_af = p4_msg[Q_AF];
wire m_is_u = p4_msg[Q_U];
wire m_is_d = p4_msg[Q_D];
wire m_is_r = p4_msg[Q_R];
wire m_oor = p4_oor;   // the locate's bits at and above LB, or-ed a stage earlier
wire m_rejected = p4_msg[Q_REJ];
wire [LB-1:0] tgt_loc = p4_tgt_ent[E_LOC +: LB];
wire tgt_bid = p4_tgt_ent[E_BID];
wire [31:0] tgt_shares = p4_tgt_ent[31:0];
wire [LB-1:0] dup_loc = p4_dup_ent[E_LOC +: LB];
wire [LB-1:0] own_loc = (m_is_af || m_is_r) ? m_loc : tgt_loc;
wire own_bid = m_is_af ? m_bid : tgt_bid;
// E C X: reduce by min(message shares, shares left); the order leaves at zero.
wire tgt_lt = p4_tgt_lt;
wire [31:0] tgt_left = p4_tgt_left;
wire tgt_remove = m_is_d || m_is_u || !tgt_lt;
wire [31:0] tgt_qty = tgt_remove ? tgt_shares : m_shares;
wire [63:0] add_ref = m_is_u ? m_ref2 : m_ref1;
wire [ENT_W-1:0] ins_ent = {1'b1, add_ref[63:SB], own_loc, own_bid, m_price, m_shares};
wire dup_other = m_is_af ? (m_oor || dup_loc != m_loc) : dup_loc != tgt_loc;
// Micro-op mask, in issue order: [0] duplicate on another instrument (its record first),
// [1] the named order (E C X D, U's original), [2] duplicate on the same instrument,
// [3] insert, [4] R's tracked bit.
reg [4:0] m_mask;

always @* begin
    m_mask = 5'd0;
    cnt_ord_inc = 0;
    if (p4_valid) begin
        if (m_is_r) begin
            m_mask[4] = 1'b1;
        end else if (m_is_af) begin
            if (m_rejected) begin
                // The live order with this reference (if any) stays.
                cnt_ord_inc[`VX_CNT_REJECTED_ADD] = 1'b1;
            end else begin
                cnt_ord_inc[`VX_CNT_DUPLICATE_REF] = p4_dup_hit;
                cnt_ord_inc[`VX_CNT_LOCATE_OUT_OF_RANGE] = m_oor;
                m_mask[0] = p4_dup_hit && dup_other;
                m_mask[2] = p4_dup_hit && !dup_other;
                m_mask[3] = !m_oor;
            end
        end else if (!p4_tgt_hit) begin
            cnt_ord_inc[`VX_CNT_UNKNOWN_REF] = 1'b1;
        end else if (m_is_u) begin
            cnt_ord_inc[`VX_CNT_DUPLICATE_REF] = p4_dup_hit;
            cnt_ord_inc[`VX_CNT_REJECTED_ADD] = m_rejected;
            m_mask[0] = p4_dup_hit && dup_other;
            m_mask[1] = 1'b1;
            m_mask[2] = p4_dup_hit && !dup_other;
            m_mask[3] = !m_rejected;
        end else begin
            m_mask[1] = 1'b1;
        end
    end
    sb_free_ord = 0;
    if (p5_free) begin
        sb_free_ord[p5_slot] = 1'b1;
    end
end

// The mask's lowest micro-op and whether it is the only one, as plain logic on five bits
// (written as mask & ~(mask - 1), Yosys puts a carry chain after the mask's decision).
reg [4:0] m_first;
reg m_single;
reg m_seen;
integer mi;

always @* begin
    m_seen = 1'b0;
    m_single = 1'b1;
    for (mi = 0; mi < 5; mi = mi + 1) begin
        m_first[mi] = m_mask[mi] && !m_seen;
        m_single = m_single && !(m_mask[mi] && m_seen);
        m_seen = m_seen || m_mask[mi];
    end
end

// Descriptor: {mask, slot, rval, ins(full, way, ent), dup(way, ent), tgt(remove, left, qty,
// way, ent), add_set, set1, own_loc, gap, ts, seq, type}
localparam D_W = 5 + SBN_W + 1 + (1 + WAYS + ENT_W) + (WAYS + ENT_W) +
    (1 + 32 + 32 + WAYS + ENT_W) + SB + SB + LB + 1 + 48 + 64 + 8;
wire [D_W-1:0] dq_in = {m_mask, m_slot, m_rval,
    p4_full, p4_free_way, ins_ent,
    p4_dup_way, p4_dup_ent,
    tgt_remove, tgt_left, tgt_qty, p4_tgt_way, p4_tgt_ent,
    add_ref[SB-1:0], m_ref1[SB-1:0], own_loc,
    p4_msg[329], p4_msg[72 +: 48], p4_msg[8 +: 64], m_type};
wire [D_W-1:0] dq_out;
wire d_single;
wire [4:0] d_first;
wire dq_valid;
wire dq_pop;
// O5: the descriptor is registered before the queue, so the queue's write enable and data
// come from registers; with it, whether it has a single micro-op (the sequencer's pop).
reg [D_W-1:0] p5_desc;
reg p5_valid;
reg p5_single;
reg [4:0] p5_first;   // the first micro-op, one-hot

always @(posedge clk) begin
    p5_desc <= dq_in;
    p5_valid <= p4_valid && m_mask != 0;
    p5_free <= p4_valid && m_mask == 0;
    p5_slot <= m_slot;
    p5_single <= m_single;
    p5_first <= m_first;
    if (rst) begin
        p5_valid <= 1'b0;
        p5_free <= 1'b0;
    end
end

vx_book_fifo #(.WIDTH(D_W + 6), .ADDR_WIDTH(DQ_AW)) desc_queue (
    .clk(clk), .rst(rst),
    .in_data({p5_first, p5_single, p5_desc}), .in_valid(p5_valid),
    .out_data({d_first, d_single, dq_out}), .out_valid(dq_valid), .out_pop(dq_pop),
    .count(dq_count)
);

localparam D_OWN = 121;
localparam D_SET1 = D_OWN + LB;
localparam D_ADDSET = D_SET1 + SB;
localparam D_TGT_ENT = D_ADDSET + SB;
localparam D_TGT_WAY = D_TGT_ENT + ENT_W;
localparam D_TGT_QTY = D_TGT_WAY + WAYS;
localparam D_TGT_LEFT = D_TGT_QTY + 32;
localparam D_TGT_RM = D_TGT_LEFT + 32;
localparam D_DUP_ENT = D_TGT_RM + 1;
localparam D_DUP_WAY = D_DUP_ENT + ENT_W;
localparam D_INS_ENT = D_DUP_WAY + WAYS;
localparam D_INS_WAY = D_INS_ENT + ENT_W;
localparam D_INS_FULL = D_INS_WAY + WAYS;
localparam D_RVAL = D_INS_FULL + 1;
localparam D_SLOT = D_RVAL + 1;
localparam D_MASK = D_SLOT + SBN_W;

// ---------------------------------------------------------------------------------------
// Micro-op sequencer: one micro-op of the head descriptor every 3 cycles, while the output
// queue has room for the record of every micro-op in flight.
wire [OQ_AW:0] oq_count;
reg seq_started_reg;
reg [4:0] seq_mask_reg;
reg seq_emitted_reg;
reg seq_spaced_reg;   // emitted in one of the last two cycles
reg seq_last_reg;   // started, and one micro-op is left
wire [4:0] d_mask = dq_out[D_MASK +: 5];
reg [4:0] seq_next_reg;   // started: the next micro-op, one-hot
// The micro-op emitted now, one-hot, from registers alone: it selects every field below.
wire [4:0] seq_sel = seq_started_reg ? seq_next_reg : d_first;
wire [4:0] seq_mask = seq_started_reg ? seq_mask_reg : d_mask;
wire [4:0] seq_rest = seq_mask & ~seq_sel;
wire s_tgt = seq_sel[1];
wire s_ins = seq_sel[3];
wire s_r = seq_sel[4];
wire s_dup = seq_sel[0] || seq_sel[2];
// Room in the record queue for every micro-op in flight, from last cycle's count (one
// record may have been pushed since, hence one more of margin).
reg oq_room_reg;
wire seq_emit = dq_valid && !seq_spaced_reg && oq_room_reg;
// The queue pops a cycle after the descriptor's last micro-op is emitted, from a register:
// the pop enables the queue's output register and pointers, which sit far from the
// sequencer, and the next emission is 3 cycles away, when the new head is in place.
reg dq_pop_reg;
assign dq_pop = dq_pop_reg;
// The message's own instrument: micro-ops 1..3; its record compares the top before the
// first of them with the top after the last.
wire [2:0] own_ops = d_mask[3:1];
wire [2:0] own_first = own_ops & ~(own_ops - 1'b1);
wire [2:0] own_last = own_ops[2] ? 3'b100 : own_ops[1] ? 3'b010 : 3'b001;

wire [ENT_W-1:0] d_tgt_ent = dq_out[D_TGT_ENT +: ENT_W];
wire [ENT_W-1:0] d_dup_ent = dq_out[D_DUP_ENT +: ENT_W];
wire [ENT_W-1:0] d_ins_ent = dq_out[D_INS_ENT +: ENT_W];

// Micro-op at L0
reg u0_valid;
reg u0_add, u0_sub, u0_r, u0_remove, u0_bid, u0_first, u0_last, u0_other, u0_has_other;
reg u0_msg_last, u0_check_tracked, u0_set_full, u0_rval, u0_ord_we;
reg [LB-1:0] u0_loc;
reg [31:0] u0_price, u0_qty;
reg [WAYS-1:0] u0_ord_way;
reg [SB-1:0] u0_ord_set;
reg [ENT_W-1:0] u0_ord_data;
reg [SBN_W-1:0] u0_slot;
reg [120:0] u0_msg;   // {gap, ts, seq, type}

always @(posedge clk) begin
    seq_emitted_reg <= seq_emit;
    seq_spaced_reg <= seq_emit || seq_emitted_reg;
    dq_pop_reg <= seq_emit && (seq_started_reg ? seq_last_reg : d_single);
    oq_room_reg <= oq_count <= (1 << OQ_AW) - 6;
    u0_valid <= seq_emit;
    if (seq_emit) begin
        seq_started_reg <= seq_rest != 0;
        seq_mask_reg <= seq_rest;
        seq_last_reg <= (seq_rest & (seq_rest - 1'b1)) == 0;
        seq_next_reg <= seq_rest & ~(seq_rest - 1'b1);
    end
    u0_add <= seq_sel[3];
    u0_sub <= |seq_sel[2:0];
    u0_r <= seq_sel[4];
    u0_other <= seq_sel[0];
    u0_has_other <= d_mask[0];
    u0_first <= seq_sel[0] || |(seq_sel[3:1] & own_first);
    u0_last <= seq_sel[0] || |(seq_sel[3:1] & own_last);
    u0_msg_last <= seq_rest == 0;
    u0_check_tracked <= dq_out[7:0] == T_A || dq_out[7:0] == T_F;
    u0_set_full <= dq_out[D_INS_FULL];
    u0_rval <= dq_out[D_RVAL];
    u0_slot <= dq_out[D_SLOT +: SBN_W];
    u0_msg <= dq_out[120:0];
    u0_ord_we <= !seq_sel[4];
    // One-hot selects (seq_sel has one bit set whenever a micro-op is emitted): the named
    // order's removal or reduction, the insert, R's tracked bit, a duplicate's removal.
    u0_loc <= (d_tgt_ent[E_LOC +: LB] & {LB{s_tgt}}) | (dq_out[D_OWN +: LB] & {LB{s_ins | s_r}}) |
        (d_dup_ent[E_LOC +: LB] & {LB{s_dup}});
    u0_bid <= (d_tgt_ent[E_BID] && s_tgt) || (d_ins_ent[E_BID] && s_ins) ||
        (d_dup_ent[E_BID] && s_dup);
    u0_price <= (d_tgt_ent[E_PRICE +: 32] & {32{s_tgt}}) |
        (d_ins_ent[E_PRICE +: 32] & {32{s_ins}}) | (d_dup_ent[E_PRICE +: 32] & {32{s_dup}});
    u0_qty <= (dq_out[D_TGT_QTY +: 32] & {32{s_tgt}}) | (d_ins_ent[31:0] & {32{s_ins}}) |
        (d_dup_ent[31:0] & {32{s_dup}});
    u0_remove <= (dq_out[D_TGT_RM] && s_tgt) || s_dup;
    u0_ord_way <= (dq_out[D_TGT_WAY +: WAYS] & {WAYS{s_tgt}}) |
        (dq_out[D_INS_WAY +: WAYS] & {WAYS{s_ins}}) | (dq_out[D_DUP_WAY +: WAYS] & {WAYS{s_dup}});
    u0_ord_set <= (dq_out[D_SET1 +: SB] & {SB{s_tgt}}) |
        (dq_out[D_ADDSET +: SB] & {SB{s_ins | s_dup}});
    // E C X leave the order with its shares left; D, U, a full execution and a duplicate's
    // removal free the way (zero entry).
    u0_ord_data <= ({d_tgt_ent[ENT_W-1:32], dq_out[D_TGT_LEFT +: 32]} &
            {ENT_W{s_tgt && !dq_out[D_TGT_RM]}}) | (d_ins_ent & {ENT_W{s_ins}});
    if (rst) begin
        seq_started_reg <= 1'b0;
        seq_emitted_reg <= 1'b0;
        seq_spaced_reg <= 1'b0;
        dq_pop_reg <= 1'b0;
        u0_valid <= 1'b0;
    end
end

// ---------------------------------------------------------------------------------------
// Level phase: L0 read, LX (the RAMs' read latches), L1 (their output registers; the words
// registered in the fabric with the bypass applied), L2 compare, L2X select, L3 apply, L4
// write back (the side word, its summary, the instrument bits and the micro-op's order-table
// write, all from registers) and build the record, L5 the record.
//
// A micro-op's compare needs the apply result of the one before it (kept word, compare,
// select, apply: three registers), so micro-ops are at least 3 cycles apart. They write 6
// cycles after their read, so of the micro-ops before this one the last two can write on or
// after this one's read edge (a micro-op 3 apart writes after it; one 6 apart writes on it,
// when block RAM read data is undefined). The last two micro-ops' results are kept (kept A, the
// newest, and kept B): the side word written, a summary of the other side as read (its top
// and flags, which is all the record needs) and the instrument bits. L2 takes the newest
// kept result on the same locate instead of the RAM's data; the side word only from one on
// the same side, since a micro-op writes only its own side's word. The choice is made in LX
// (see below) and registered.
reg u1_valid, u2_valid, u2x_valid, u3_valid, u4_valid, u5_valid;
// L2X's copy of the micro-op
reg u2x_add, u2x_remove, u2x_bid, u2x_first, u2x_last, u2x_other, u2x_has_other;
reg u2x_msg_last, u2x_set_full, u2x_rval, u2x_ord_we;
reg [LB-1:0] u2x_loc;
reg [31:0] u2x_price, u2x_qty;
reg [WAYS-1:0] u2x_ord_way;
reg [SB-1:0] u2x_ord_set;
reg [ENT_W-1:0] u2x_ord_data;
reg [SBN_W-1:0] u2x_slot;
reg [120:0] u2x_msg;
reg u1_add, u2_add, u3_add;
reg u1_sub, u2_sub;
reg u1_r, u2_r;
reg u1_remove, u2_remove;
reg u1_bid, u2_bid, u3_bid;
reg u1_first, u2_first, u3_first;
reg u1_last, u2_last, u3_last, u4_last, u5_last;
reg u1_other, u2_other, u3_other, u4_other, u5_other;
reg u1_has_other, u2_has_other, u3_has_other, u4_has_other, u5_has_other;
reg u1_msg_last, u2_msg_last, u3_msg_last;
reg u1_check_tracked, u2_check_tracked;
reg u1_set_full, u2_set_full;
reg u1_rval, u2_rval, u3_rval;
reg u1_ord_we, u2_ord_we, u3_ord_we;
reg [LB-1:0] u1_loc, u2_loc, u3_loc, u4_loc;
reg [31:0] u1_price, u2_price, u3_price;
reg [31:0] u1_qty, u2_qty, u3_qty;
reg [WAYS-1:0] u1_ord_way, u2_ord_way, u3_ord_way;
reg [SB-1:0] u1_ord_set, u2_ord_set, u3_ord_set;
reg [ENT_W-1:0] u1_ord_data, u2_ord_data, u3_ord_data;
reg [SBN_W-1:0] u1_slot, u2_slot, u3_slot;
reg [120:0] u1_msg, u2_msg, u3_msg, u4_msg;

always @* begin
    lvl_rd_addr = u0_loc;
    lvl_rd_bid = u0_bid;
end


/* verilator lint_off UNUSEDSIGNAL */
function automatic side_unknown(input [SIDE_W-1:0] w);
    side_unknown = w[LVLS_W +: NH_W] == 0 && w[LVLS_W + NH_W +: CNT_W] != 0;
endfunction

function automatic side_truncated(input [SIDE_W-1:0] w);
    side_truncated = w[LVLS_W + NH_W +: CNT_W] != 0;
endfunction

function automatic [OS_W-1:0] side_summary(input [SIDE_W-1:0] w);
    side_summary = {side_truncated(w), side_unknown(w), w[63:0]};
endfunction
/* verilator lint_on UNUSEDSIGNAL */

wire [SIDE_W-1:0] a_side;   // L3's new side word
// Kept results (A newest, B the one before)
reg ka_valid, kb_valid;
reg ka_bid, kb_bid;
reg [LB-1:0] ka_loc, kb_loc;
reg [SIDE_W-1:0] ka_side, kb_side;
reg [OS_W-1:0] ka_osum, kb_osum;
reg [1:0] ka_inst, kb_inst;

// L1
// The RAM words (read at L0, in the RAMs' output registers at L1) are registered once more
// in the fabric by the compare, the side word zeroed there when a kept word replaces it.
reg [SIDE_W-1:0] w2_side_ram;
reg [OS_W-1:0] w2_osum_ram;
reg [1:0] w2_inst_ram;
// The bypass selects are applied where the words are registered: the RAM's side word is
// zeroed in its fabric register when a kept word replaces it, and the kept words are copied,
// masked, into ka_sel / kb_sel; L2's side word is then an OR of three registers.
reg [SIDE_W-1:0] ka_sel, kb_sel;
reg s_o_ram, s_o_a_side, s_o_a_other, s_o_b_side, s_o_b_other;
reg s_i_a, s_i_b;
// The bypass choice is made in LX and registered, so that in L1 the masks (synchronous
// resets of 665-bit registers) come straight from flip-flops. The micro-op that will be in
// L3 and the kept words at L1 are known in LX: the one now in L2 (and kept A), else the one
// now in L3 (which will be kept A, with A then kept B), else kept A and B.
reg [LB-1:0] ux_loc_reg;
reg ux_bid_reg;
wire x_m_u2 = u2x_valid && u2x_loc == ux_loc_reg;
wire x_m_u3 = u3_valid && u3_loc == ux_loc_reg;
wire x_m_ka = ka_valid && ka_loc == ux_loc_reg;
wire x_m_kb = kb_valid && kb_loc == ux_loc_reg;
wire x_s_u2 = x_m_u2 && u2x_bid == ux_bid_reg;
wire x_s_u3 = x_m_u3 && u3_bid == ux_bid_reg;
wire x_s_ka = x_m_ka && ka_bid == ux_bid_reg;
wire x_s_kb = x_m_kb && kb_bid == ux_bid_reg;
// the newest candidate (c1) and the one before (c2): match, same side, side bid
wire x_m1 = u2x_valid ? x_m_u2 : u3_valid ? x_m_u3 : x_m_ka;
wire x_s1 = u2x_valid ? x_s_u2 : u3_valid ? x_s_u3 : x_s_ka;
wire x_m2 = (u2x_valid || u3_valid) ? x_m_ka : x_m_kb;
wire x_s2 = (u2x_valid || u3_valid) ? x_s_ka : x_s_kb;
reg l1_side_a, l1_side_b, l1_m1, l1_m2, l1_s2;

always @(posedge clk) begin
    ux_loc_reg <= u0_loc;
    ux_bid_reg <= u0_bid;
    l1_m1 <= x_m1;
    l1_m2 <= x_m2;
    l1_s2 <= x_s2;
    l1_side_a <= x_s1;
    l1_side_b <= !x_s1 && x_s2;
end

always @(posedge clk) begin
    if (l1_side_a || l1_side_b) begin
        w2_side_ram <= {SIDE_W{1'b0}};
    end else begin
        w2_side_ram <= side_rd_data;
    end
    w2_osum_ram <= osum_rd_data;
    w2_inst_ram <= inst_rd_data;
    // The masks as synchronous resets (the flip-flops' own reset input), not as logic
    // after the apply stage.
    if (!l1_side_a) begin
        ka_sel <= {SIDE_W{1'b0}};
    end else if (u3_valid) begin
        ka_sel <= a_side;
    end else begin
        ka_sel <= ka_side;
    end
    if (!l1_side_b) begin
        kb_sel <= {SIDE_W{1'b0}};
    end else if (u3_valid) begin
        kb_sel <= ka_side;
    end else begin
        kb_sel <= kb_side;
    end
    s_o_a_side <= l1_m1 && !l1_side_a;
    s_o_a_other <= l1_side_a;
    s_o_b_side <= !l1_m1 && l1_m2 && !l1_s2;
    s_o_b_other <= !l1_m1 && l1_s2;
    s_o_ram <= !l1_m1 && !l1_m2;
    s_i_a <= l1_m1;
    s_i_b <= !l1_m1 && l1_m2;
end

// L2
wire [SIDE_W-1:0] l2_side = w2_side_ram | ka_sel | kb_sel;
// the other side's summary as it stands before this micro-op
wire [OS_W-1:0] l2_osum = (w2_osum_ram & {OS_W{s_o_ram}}) |
    (side_summary(ka_side) & {OS_W{s_o_a_side}}) | (ka_osum & {OS_W{s_o_a_other}}) |
    (side_summary(kb_side) & {OS_W{s_o_b_side}}) | (kb_osum & {OS_W{s_o_b_other}});
wire [1:0] l2_inst = s_i_a ? ka_inst : s_i_b ? kb_inst : w2_inst_ram;
// An A F inserts only into a tracked instrument; a U's insert ignores tracking.
wire l2_tracked = l2_inst[0] || sub_all_reg;
wire l2_add_req = u2_valid && u2_add && (!u2_check_tracked || l2_tracked);

wire [LEVELS-1:0] c_eq, c_better, c_eq_last, c_stays, c_qty_carry;
wire [LEVELS*LVL_W-1:0] c_changed;
wire c_beyond_by_worst, c_beyond_by_bound, c_worst_sets_bound, c_price_sets_bound;
wire c_full;
wire [CNT_W-1:0] c_beyond_inc, c_beyond_dec, c_beyond_evict;
wire [NH_W-1:0] c_n_held_inc, c_n_held_dec;

vx_book_level_cmp #(.LEVELS(LEVELS), .CNT_W(CNT_W)) level_cmp (
    .is_bid(u2_bid), .op_add(u2_add), .remove_order(u2_remove), .side_in(l2_side),
    .price(u2_price), .qty(u2_qty),
    .eq(c_eq), .better(c_better), .eq_last(c_eq_last),
    .changed(c_changed), .stays(c_stays),
    .qty_carry(c_qty_carry),
    .beyond_by_worst(c_beyond_by_worst), .beyond_by_bound(c_beyond_by_bound),
    .worst_sets_bound(c_worst_sets_bound), .price_sets_bound(c_price_sets_bound),
    .full(c_full),
    .beyond_inc(c_beyond_inc), .beyond_dec(c_beyond_dec), .beyond_evict(c_beyond_evict),
    .n_held_inc(c_n_held_inc), .n_held_dec(c_n_held_dec)
);

// L2X registers: the compare's results and the words they were computed from.
reg [SIDE_W-1:0] w2x_side;
reg [OS_W-1:0] w2x_osum;
reg [1:0] w2x_inst;
reg [127:0] w2x_quad;
reg u2x_add_req, u2x_add_ready, u2x_untracked, u2x_op_add, u2x_op_sub, u2x_op_r;
reg [LEVELS-1:0] r_eq, r_better, r_eq_last, r_stays, r_qty_carry;
reg [LEVELS*LVL_W-1:0] r_changed;
reg r_beyond_by_worst, r_beyond_by_bound, r_worst_sets_bound, r_price_sets_bound;
reg r_full;
reg [CNT_W-1:0] r_beyond_inc, r_beyond_dec, r_beyond_evict;
reg [NH_W-1:0] r_n_held_inc, r_n_held_dec;

always @(posedge clk) begin
    w2x_side <= l2_side;
    w2x_osum <= l2_osum;
    w2x_inst <= l2_inst;
    // the top before this micro-op, for the record: {ask, bid}
    w2x_quad <= u2_bid ? {l2_osum[63:0], l2_side[63:0]} : {l2_side[63:0], l2_osum[63:0]};
    u2x_op_add <= u2_valid && u2_add;
    u2x_op_sub <= u2_valid && u2_sub;
    u2x_op_r <= u2_valid && u2_r;
    u2x_add_req <= l2_add_req;
    u2x_add_ready <= l2_add_req && !u2_set_full;
    u2x_untracked <= u2_valid && u2_add && u2_check_tracked && !l2_tracked;
    r_eq <= c_eq;
    r_better <= c_better;
    r_eq_last <= c_eq_last;
    r_changed <= c_changed;
    r_stays <= c_stays;
    r_qty_carry <= c_qty_carry;
    r_beyond_by_worst <= c_beyond_by_worst;
    r_beyond_by_bound <= c_beyond_by_bound;
    r_worst_sets_bound <= c_worst_sets_bound;
    r_price_sets_bound <= c_price_sets_bound;
    r_full <= c_full;
    r_beyond_inc <= c_beyond_inc;
    r_beyond_dec <= c_beyond_dec;
    r_beyond_evict <= c_beyond_evict;
    r_n_held_inc <= c_n_held_inc;
    r_n_held_dec <= c_n_held_dec;
    // No clear here: during the sweep L3's registers are zeroed, which is all its write
    // path reads (see below).
end

// L2X: the micro-op's effect decided from the compare's registers, registered for L3.
localparam TAIL_W = NH_W + CNT_W + 32;
wire [LEVELS-1:0] x_sel_cur, x_sel_chg, x_sel_up, x_sel_new, x_sel_dn;
wire [TAIL_W-1:0] x_tail;
wire x_qty_overflow, x_added, x_added_beyond, x_evicted;

vx_book_level_select #(.LEVELS(LEVELS), .CNT_W(CNT_W)) level_select (
    .op_add(u2x_op_add), .add_ready(u2x_add_ready), .op_sub(u2x_op_sub),
    .remove_order(u2x_remove), .price(u2x_price),
    .tail_in(w2x_side[LVLS_W +: TAIL_W]), .worst_px(w2x_side[(LEVELS-1)*LVL_W +: 32]),
    .eq(r_eq), .better(r_better), .eq_last(r_eq_last), .stays(r_stays),
    .qty_carry(r_qty_carry),
    .beyond_by_worst(r_beyond_by_worst), .beyond_by_bound(r_beyond_by_bound),
    .worst_sets_bound(r_worst_sets_bound), .price_sets_bound(r_price_sets_bound),
    .full(r_full),
    .beyond_inc(r_beyond_inc), .beyond_dec(r_beyond_dec), .beyond_evict(r_beyond_evict),
    .n_held_inc(r_n_held_inc), .n_held_dec(r_n_held_dec),
    .sel_cur(x_sel_cur), .sel_chg(x_sel_chg), .sel_up(x_sel_up), .sel_new(x_sel_new),
    .sel_dn(x_sel_dn), .tail_out(x_tail), .qty_overflow(x_qty_overflow), .added(x_added),
    .added_beyond(x_added_beyond), .evicted(x_evicted)
);

reg [LVLS_W-1:0] w3_levels;
reg [LEVELS*LVL_W-1:0] w3_changed;
reg [OS_W-1:0] w3_osum;
reg [1:0] w3_inst;
reg [127:0] w3_quad;
reg u3_add_req, u3_untracked, u3_op_r;
reg [LEVELS-1:0] s_cur, s_chg, s_up, s_new, s_dn;
reg [TAIL_W-1:0] s_tail;
reg a_qty_overflow, a_added, a_added_beyond, a_evicted;

always @(posedge clk) begin
    w3_levels <= w2x_side[LVLS_W-1:0];
    w3_changed <= r_changed;
    w3_osum <= w2x_osum;
    w3_inst <= w2x_inst;
    w3_quad <= w2x_quad;
    u3_add_req <= u2x_add_req;
    u3_untracked <= u2x_untracked;
    u3_op_r <= u2x_op_r;
    s_cur <= x_sel_cur;
    s_chg <= x_sel_chg;
    s_up <= x_sel_up;
    s_new <= x_sel_new;
    s_dn <= x_sel_dn;
    s_tail <= x_tail;
    a_qty_overflow <= x_qty_overflow;
    a_added <= x_added;
    a_added_beyond <= x_added_beyond;
    a_evicted <= x_evicted;
    if (rst || clearing_reg) begin
        // The clear sweep writes L3's output: no select and a zero tail give a zero word,
        // with no clear select in the write-data path.
        w3_inst <= 0;
        u3_add_req <= 1'b0;
        u3_untracked <= 1'b0;
        u3_op_r <= 1'b0;
        s_cur <= 0;
        s_chg <= 0;
        s_up <= 0;
        s_new <= 0;
        s_dn <= 0;
        s_tail <= 0;
        a_added <= 1'b0;
        a_added_beyond <= 1'b0;
        a_evicted <= 1'b0;
    end
end

// L3
vx_book_level_apply #(.LEVELS(LEVELS), .CNT_W(CNT_W)) level_apply (
    .levels_in(w3_levels), .changed(w3_changed),
    .new_level({{CNT_W-1{1'b0}}, 1'b1, u3_qty, u3_price}),
    .sel_cur(s_cur), .sel_chg(s_chg), .sel_up(s_up), .sel_new(s_new), .sel_dn(s_dn),
    .tail(s_tail), .side_out(a_side)
);

// The set was full or a held level would overflow: the add is dropped, sticky orders_lost.
reg u3_set_full_reg;
wire l3_lost = u3_add_req && (u3_set_full_reg || a_qty_overflow);
wire [1:0] l3_inst = {w3_inst[1] || l3_lost, u3_op_r ? u3_rval : w3_inst[0]};

// L4 write-back registers. The clear sweep goes through them too: L3's output is zero then.
reg w4_side_en, w4_inst_en;
reg [WAYS-1:0] w4_ord_en;
reg [SB-1:0] w4_ord_addr;
reg [ENT_W-1:0] w4_ord_data;
reg [NC-1:0] w4_cnt;
reg w4_free;
reg [SBN_W-1:0] w4_slot;
integer owi;

always @(posedge clk) begin
    w4_side_en <= clearing_reg || u3_valid;
    w4_inst_en <= clearing_reg || u3_valid;
    for (owi = 0; owi < WAYS; owi = owi + 1) begin
        w4_ord_en[owi] <= clearing_reg ||
            (u3_valid && u3_ord_we && u3_ord_way[owi] && (!u3_add || a_added));
    end
    w4_ord_addr <= clearing_reg ? clr_addr_reg[SB-1:0] : u3_ord_set;
    w4_ord_data <= clearing_reg ? {ENT_W{1'b0}} : u3_ord_data;
    w4_cnt <= 0;
    if (u3_valid) begin
        w4_cnt[`VX_CNT_UNTRACKED] <= u3_untracked;
        w4_cnt[`VX_CNT_ORDERS_LOST] <= u3_add_req && u3_set_full_reg;
        w4_cnt[`VX_CNT_QTY_OVERFLOW] <= u3_add_req && !u3_set_full_reg && a_qty_overflow;
        w4_cnt[`VX_CNT_LEVEL_EVICTIONS] <= a_evicted;
        w4_cnt[`VX_CNT_BEYOND_LEVELS] <= a_added_beyond;
    end
    w4_free <= u3_valid && u3_msg_last;
    w4_slot <= u3_slot;
    if (u3_valid || clearing_reg) begin
        ka_loc <= clearing_reg ? clr_addr_reg[LB:1] : u3_loc;
        ka_bid <= clearing_reg ? clr_addr_reg[0] : u3_bid;
        ka_side <= a_side;
        ka_inst <= l3_inst;
    end
    if (u3_valid) begin
        ka_valid <= 1'b1;
        ka_osum <= w3_osum;
        kb_valid <= ka_valid;
        kb_bid <= ka_bid;
        kb_loc <= ka_loc;
        kb_side <= ka_side;
        kb_osum <= ka_osum;
        kb_inst <= ka_inst;
    end
    if (rst) begin
        w4_side_en <= 1'b0;
        w4_inst_en <= 1'b0;
        w4_ord_en <= 0;
        w4_cnt <= 0;
        w4_free <= 1'b0;
        ka_valid <= 1'b0;
        kb_valid <= 1'b0;
    end
end

always @* begin
    // Only the micro-op's side is written (an R rewrites it unchanged).
    side_wr_en = w4_side_en;
    lvl_wr_en = w4_inst_en;
    lvl_wr_addr = ka_loc;
    lvl_wr_bid = ka_bid;
    side_wr_data = ka_side;
    osum_wr_data = side_summary(ka_side);
    inst_wr_data = ka_inst;
    ord_wr_en = w4_ord_en;
    ord_wr_addr = w4_ord_addr;
    ord_wr_data = w4_ord_data;
    cnt_lvl_inc = w4_cnt;
    sb_free_lvl = 0;
    if (w4_free) begin
        sb_free_lvl[w4_slot] = 1'b1;
    end
end

// Top of book as the record shows it: slot 0's price and aggregate (zeros for an empty
// side, whose slots are zero).
reg [127:0] before_quad_reg;
reg other_emit_reg;

always @(posedge clk) begin
    if (u3_valid && u3_first) begin
        before_quad_reg <= w3_quad;
    end
end

// L4: the micro-op's words after it, the record's fields and the top compared 16 bits at a
// time; L5: the record, when this is the last micro-op on the instrument and the top changed.
wire [OS_W-1:0] l4_ssum = side_summary(ka_side);
wire [OS_W-1:0] l4_bsum = ka_bid ? l4_ssum : ka_osum;
wire [OS_W-1:0] l4_asum = ka_bid ? ka_osum : l4_ssum;
wire [127:0] l4_quad = {l4_asum[63:0], l4_bsum[63:0]};
// The record's varying bits (the output assembles the whole record, its reserved fields and
// the bits above the flags' five and the locate's LB zero): {type, top {ask, bid}, flags,
// locate, timestamp, sequence}.
localparam RV_SEQ = 0;                 // 64 bits
localparam RV_TS = RV_SEQ + 64;         // 48
localparam RV_LOC = RV_TS + 48;         // LB
localparam RV_FLAGS = RV_LOC + LB;      // 5
localparam RV_QUAD = RV_FLAGS + 5;      // 128
localparam RV_TYPE = RV_QUAD + 128;     // 8
localparam RV_W = RV_TYPE + 8;
wire [4:0] l4_flags = {u4_msg[120], ka_inst[1], l4_bsum[65] || l4_asum[65], l4_asum[64],
    l4_bsum[64]};
reg [7:0] q5_ne;
reg [RV_W-1:0] q5_data;
reg r6_valid;
reg r6_dual;
reg [RV_W-1:0] r6_data;
integer qi;
wire l5_changed = |q5_ne;
wire l5_emit = u5_valid && u5_last && l5_changed;

always @(posedge clk) begin
    for (qi = 0; qi < 8; qi = qi + 1) begin
        q5_ne[qi] <= l4_quad[16*qi +: 16] != before_quad_reg[16*qi +: 16];
    end
    q5_data <= {u4_msg[7:0], l4_quad, l4_flags, u4_loc, u4_msg[119:72], u4_msg[71:8]};
    r6_valid <= l5_emit;
    r6_dual <= l5_emit && !u5_other && u5_has_other && other_emit_reg;
    r6_data <= q5_data;
    if (u5_valid && u5_other) begin
        other_emit_reg <= l5_changed;
    end
    if (rst) begin
        r6_valid <= 1'b0;
        other_emit_reg <= 1'b0;
    end
end

always @* begin
    cnt_rec_inc = 0;
    cnt_rec_inc[`VX_CNT_RECORDS] = r6_valid;
    cnt_rec_inc[`VX_CNT_DUAL_RECORDS] = r6_dual;
end

// The queue carries only the varying bits. (Carried, the output register's constant bits
// became synchronous resets behind the consumer's tready: one LUT more on a path that
// crosses the chip.)
wire [RV_W-1:0] oq_out;

vx_book_fifo #(.WIDTH(RV_W), .ADDR_WIDTH(OQ_AW)) out_queue (
    .clk(clk), .rst(rst),
    .in_data(r6_data),
    .in_valid(r6_valid),
    .out_data(oq_out), .out_valid(m_axis_tvalid), .out_pop(m_axis_tready),
    .count(oq_count)
);

assign m_axis_tdata = {24'd0, oq_out[RV_TYPE +: 8], oq_out[RV_QUAD +: 128], 11'd0,
    oq_out[RV_FLAGS +: 5], {16-LB{1'b0}}, oq_out[RV_LOC +: LB], 16'd0, oq_out[RV_TS +: 48],
    oq_out[RV_SEQ +: 64]};

assign m_axis_tkeep = {40{1'b1}};
assign m_axis_tlast = 1'b1;

// Micro-op stage registers. LX sits between L0 and L1: the RAM words take two cycles to
// their output registers and one more to a fabric register beside the compare (w2_*).
localparam UB_W = 13 + 32 + 32 + WAYS + SB + ENT_W + SBN_W + 121;
reg ux_valid;
reg [UB_W-1:0] ux_bundle;

always @(posedge clk) begin
    ux_valid <= u0_valid;
    // (locate and side travel in ux_loc_reg / ux_bid_reg, which the bypass choice reads)
    ux_bundle <= {u0_add, u0_sub, u0_r, u0_remove, u0_first, u0_last, u0_other,
        u0_has_other, u0_msg_last, u0_check_tracked, u0_set_full, u0_rval, u0_ord_we,
        u0_price, u0_qty, u0_ord_way, u0_ord_set, u0_ord_data, u0_slot, u0_msg};
    {u1_add, u1_sub, u1_r, u1_remove, u1_first, u1_last, u1_other, u1_has_other,
     u1_msg_last, u1_check_tracked, u1_set_full, u1_rval, u1_ord_we, u1_price, u1_qty,
     u1_ord_way, u1_ord_set, u1_ord_data, u1_slot, u1_msg} <= ux_bundle;
    u1_loc <= ux_loc_reg;
    u1_bid <= ux_bid_reg;
    if (rst) begin
        ux_valid <= 1'b0;
    end
end

always @(posedge clk) begin
    u1_valid <= ux_valid;
    u2_valid <= u1_valid;
    u2x_valid <= u2_valid;
    u3_valid <= u2x_valid;
    u4_valid <= u3_valid;
    u5_valid <= u4_valid;
    {u2_add, u2_sub, u2_r, u2_remove, u2_bid, u2_first, u2_last, u2_other, u2_has_other,
     u2_msg_last, u2_check_tracked, u2_set_full, u2_rval, u2_ord_we} <=
        {u1_add, u1_sub, u1_r, u1_remove, u1_bid, u1_first, u1_last, u1_other, u1_has_other,
         u1_msg_last, u1_check_tracked, u1_set_full, u1_rval, u1_ord_we};
    {u2x_add, u2x_remove, u2x_bid, u2x_first, u2x_last, u2x_other, u2x_has_other,
     u2x_msg_last, u2x_set_full, u2x_rval, u2x_ord_we} <=
        {u2_add, u2_remove, u2_bid, u2_first, u2_last, u2_other, u2_has_other,
         u2_msg_last, u2_set_full, u2_rval, u2_ord_we};
    {u3_add, u3_bid, u3_first, u3_last, u3_other, u3_has_other,
     u3_msg_last, u3_set_full_reg, u3_rval, u3_ord_we} <=
        {u2x_add, u2x_bid, u2x_first, u2x_last, u2x_other, u2x_has_other,
         u2x_msg_last, u2x_set_full, u2x_rval, u2x_ord_we};
    {u4_last, u4_other, u4_has_other} <= {u3_last, u3_other, u3_has_other};
    {u5_last, u5_other, u5_has_other} <= {u4_last, u4_other, u4_has_other};
    u2_loc <= u1_loc;
    u2x_loc <= u2_loc;
    u3_loc <= u2x_loc;
    u4_loc <= u3_loc;
    u2_price <= u1_price;
    u2x_price <= u2_price;
    u3_price <= u2x_price;
    u2_qty <= u1_qty;
    u2x_qty <= u2_qty;
    u3_qty <= u2x_qty;
    u2_ord_way <= u1_ord_way;
    u2x_ord_way <= u2_ord_way;
    u3_ord_way <= u2x_ord_way;
    u2_ord_set <= u1_ord_set;
    u2x_ord_set <= u2_ord_set;
    u3_ord_set <= u2x_ord_set;
    u2_ord_data <= u1_ord_data;
    u2x_ord_data <= u2_ord_data;
    u3_ord_data <= u2x_ord_data;
    u2_slot <= u1_slot;
    u2x_slot <= u2_slot;
    u3_slot <= u2x_slot;
    u2_msg <= u1_msg;
    u2x_msg <= u2_msg;
    u3_msg <= u2x_msg;
    u4_msg <= u3_msg;
    if (rst) begin
        u1_valid <= 1'b0;
        u2_valid <= 1'b0;
        u2x_valid <= 1'b0;
        u3_valid <= 1'b0;
        u4_valid <= 1'b0;
        u5_valid <= 1'b0;
    end
end

endmodule

`resetall
