// MoldUDP64 / BinaryFILE framer: turns UDP payloads (or a raw BinaryFILE byte stream) on a
// 64-bit AXI-Stream into one 320-bit beat per ITCH message, with its sequence number, block
// length and a "gap before this message" bit, as the book core expects (docs/hardware.md).
//
// Cut-through: a message leaves as soon as its last byte arrives (two register stages), so a
// packet whose tail turns out malformed has already delivered its good messages; the bad part
// is counted and dropped, and the next datagram starts clean.
`resetall
`timescale 1ns / 1ps
`default_nettype none

module vx_mold_framer #(
    // Message bytes kept per beat (longer messages are truncated; none of them touch the book).
    parameter MSG_BYTES = 40,
    parameter MSG_WIDTH = MSG_BYTES * 8,
    parameter SEQ_WIDTH = 64,
    parameter LEN_WIDTH = 16,
    parameter USER_WIDTH = 1 + LEN_WIDTH + SEQ_WIDTH,
    parameter STAT_WIDTH = 32
) (
    input  wire                   clk,
    input  wire                   rst,

    // 0: datagrams dropped whole (the parser waits for the next tlast before restarting).
    input  wire                   cfg_enable,
    // 1: BinaryFILE stream (blocks back to back, tlast ignored, seq = 1-based position).
    input  wire                   cfg_file_mode,

    // UDP payload (MoldUDP64) or BinaryFILE bytes; byte 0 of the stream in [7:0]. Every beat
    // but a datagram's last is full; the last has its bytes contiguous from bit 0.
    input  wire [63:0]            s_axis_tdata,
    input  wire [7:0]             s_axis_tkeep,
    input  wire                   s_axis_tvalid,
    output wire                   s_axis_tready,
    input  wire                   s_axis_tlast,

    // One beat per message: {gap, block length, seq} in tuser.
    output wire [MSG_WIDTH-1:0]   m_axis_tdata,
    output wire [MSG_BYTES-1:0]   m_axis_tkeep,
    output wire                   m_axis_tvalid,
    input  wire                   m_axis_tready,
    output wire                   m_axis_tlast,
    output wire [USER_WIDTH-1:0]  m_axis_tuser,

    output wire [63:0]            stat_seq_gaps,        // messages missing (sum of gap sizes)
    output wire [63:0]            stat_seq_duplicates,  // messages dropped as already seen
    output wire [STAT_WIDTH-1:0]  stat_packets,         // MoldUDP64 headers parsed
    output wire [STAT_WIDTH-1:0]  stat_heartbeats,
    output wire [STAT_WIDTH-1:0]  stat_end_of_session,
    output wire [STAT_WIDTH-1:0]  stat_wrong_session,   // datagram of another session: dropped
    output wire [STAT_WIDTH-1:0]  stat_truncated,       // datagram ended inside header or block
    output wire [STAT_WIDTH-1:0]  stat_count_mismatch,  // blocks present != header count
    output wire [STAT_WIDTH-1:0]  stat_zero_length,     // zero block length prefix seen
    output wire [STAT_WIDTH-1:0]  stat_messages         // message beats sent to the book
);

localparam IN_BYTES = 8;
// MoldUDP64 header: session (10), sequence number (8, BE), message count (2, BE) = 20 bytes,
// so on a 64-bit bus the first block always starts at byte 4 of the third beat.
localparam HDR_BLOCK_OFFSET = 4;
localparam [15:0] COUNT_HEARTBEAT = 16'h0000;
localparam [15:0] COUNT_END_OF_SESSION = 16'hffff;

localparam [1:0]
    STATE_HDR = 2'd0,   // next beat is header beat hdr_beat_reg of a datagram
    STATE_BODY = 2'd1,  // inside the message blocks
    STATE_DROP = 2'd2;  // discard until the end of the datagram

reg [1:0] state_reg, state_next;
reg [1:0] hdr_beat_reg, hdr_beat_next;
reg       file_mode_reg, file_mode_next;

reg [79:0] session_reg, session_next;
reg        session_valid_reg, session_valid_next;
reg [79:0] hdr_session_reg, hdr_session_next;
// Session compare done a word at a time as the header arrives, so the header's last word
// only reads one registered bit (session_reg moves only on that last word).
reg        hdr_lo_match_reg, hdr_lo_match_next;
reg        hdr_match_reg, hdr_match_next;
reg [47:0] hdr_seq_hi_reg, hdr_seq_hi_next;

// Block parser: pre_cnt = length prefix bytes seen (2 = inside the body).
reg [1:0]           pre_cnt_reg, pre_cnt_next;
reg [7:0]           len_hi_reg, len_hi_next;
reg [LEN_WIDTH-1:0] blk_len_reg, blk_len_next;
reg [LEN_WIDTH-1:0] rem_reg, rem_next;
reg [6:0]           pos_reg, pos_next;      // body bytes stored so far, saturates at MSG_BYTES
reg [15:0]          msgs_left_reg, msgs_left_next;
reg [SEQ_WIDTH-1:0] cur_seq_reg, cur_seq_next;

// A beat holding a complete short block after a completed message cannot be finished in one
// cycle (one message beat per cycle): it is held (tready low) and resumed from split_off.
reg       split_reg, split_next;
reg [3:0] split_off_reg, split_off_next;

// Stage 1 output: where this word's body bytes go, decided by the parser; the bytes are
// moved in stage A, so the byte shifters stay off the parser's word-to-word loop.
reg                 d_valid_reg, d_valid_next;     // a body word to place
reg [IN_BYTES*8-1:0] d_data_reg, d_data_next;
reg [3:0]           d_bs_reg, d_bs_next;           // first body byte of segment 1
reg [3:0]           d_take_reg, d_take_next;       // its byte count
reg [6:0]           d_pos_reg, d_pos_next;         // where they go in the message
reg                 d_keep_old_reg, d_keep_old_next; // add to the bytes held (same block)
reg                 d_emit_reg, d_emit_next;       // segment 1 completes a message
reg                 d_start2_reg, d_start2_next;   // segment 2 starts a body in this word
reg [3:0]           d_bs2_reg, d_bs2_next;
reg [3:0]           d_take2_reg, d_take2_next;
reg [LEN_WIDTH-1:0] d_len_reg, d_len_next;
reg [SEQ_WIDTH-1:0] d_seq_reg, d_seq_next;
reg [SEQ_WIDTH-1:0] d_seq1_reg, d_seq1_next;       // seq + 1, computed beside the parse
reg                 d_restart_reg, d_restart_next; // mode change: sequencing restarts after

// Stage A output: message assembled, not yet sequenced.
reg [MSG_WIDTH-1:0] msg_reg, msg_next;
reg                 p_valid_reg, p_valid_next;
reg [MSG_WIDTH-1:0] p_data_reg, p_data_next;
reg [MSG_BYTES-1:0] p_keep_reg, p_keep_next;
reg [LEN_WIDTH-1:0] p_len_reg, p_len_next;
reg [SEQ_WIDTH-1:0] p_seq_reg, p_seq_next;
reg [SEQ_WIDTH-1:0] p_seq1_reg, p_seq1_next;
reg                 p_restart_reg, p_restart_next;

// Stage 2: sequencing (duplicate drop, gap detection) and the output register.
reg [SEQ_WIDTH-1:0] exp_seq_reg, exp_seq_next;
reg                 exp_valid_reg, exp_valid_next;
reg                 m_valid_reg, m_valid_next;
reg [MSG_WIDTH-1:0] m_data_reg, m_data_next;
reg [MSG_BYTES-1:0] m_keep_reg, m_keep_next;
reg [USER_WIDTH-1:0] m_user_reg, m_user_next;

reg [63:0]           seq_gaps_reg, seq_gaps_next;
reg [63:0]           seq_dups_reg, seq_dups_next;
reg [STAT_WIDTH-1:0] packets_reg, packets_next;
reg [STAT_WIDTH-1:0] heartbeats_reg, heartbeats_next;
reg [STAT_WIDTH-1:0] eos_reg, eos_next;
reg [STAT_WIDTH-1:0] wrong_session_reg, wrong_session_next;
reg [STAT_WIDTH-1:0] truncated_reg, truncated_next;
reg [STAT_WIDTH-1:0] count_mismatch_reg, count_mismatch_next;
reg [STAT_WIDTH-1:0] zero_length_reg, zero_length_next;
reg [STAT_WIDTH-1:0] messages_reg, messages_next;

// Counter events of this cycle, added one cycle later so no counter's carry chain sits
// behind the parser or the sequence compare.
reg [63:0] inc_gaps_reg, inc_gaps_next;
reg        inc_dups_reg, inc_dups_next;
reg        inc_packets_reg, inc_packets_next;
reg        inc_heartbeats_reg, inc_heartbeats_next;
reg        inc_eos_reg, inc_eos_next;
reg        inc_wrong_session_reg, inc_wrong_session_next;
reg        inc_truncated_reg, inc_truncated_next;
reg        inc_count_mismatch_reg, inc_count_mismatch_next;
reg        inc_zero_length_reg, inc_zero_length_next;
reg        inc_messages_reg, inc_messages_next;

reg s_ready;

assign s_axis_tready = s_ready;
assign m_axis_tdata = m_data_reg;
assign m_axis_tkeep = m_keep_reg;
assign m_axis_tvalid = m_valid_reg;
assign m_axis_tlast = 1'b1;
assign m_axis_tuser = m_user_reg;

assign stat_seq_gaps = seq_gaps_reg;
assign stat_seq_duplicates = seq_dups_reg;
assign stat_packets = packets_reg;
assign stat_heartbeats = heartbeats_reg;
assign stat_end_of_session = eos_reg;
assign stat_wrong_session = wrong_session_reg;
assign stat_truncated = truncated_reg;
assign stat_count_mismatch = count_mismatch_reg;
assign stat_zero_length = zero_length_reg;
assign stat_messages = messages_reg;

// Combinational working values of the block parser.
reg        en;
reg [3:0]  in_bytes;
reg        body_ok;
reg        drop_rest;
reg [3:0]  x0;
reg [3:0]  avail;
reg        msgs_avail;
reg [15:0] msgs_left_now;
reg [SEQ_WIDTH-1:0] seq_now;
reg [15:0] hdr_count;
reg [1:0]  pfx;
reg        len_known;
reg [LEN_WIDTH-1:0] blk_len;
reg [6:0]  pos_eff;
reg [3:0]  bs;
reg [3:0]  take;
reg        done1;
reg        zero1;
reg [4:0]  e1;
reg [1:0]  pfx2;
reg [LEN_WIDTH-1:0] len2;
reg [3:0]  bavail2;
reg        split_now;
reg        gap;
reg [MSG_WIDTH-1:0] msg_work;
reg [LEN_WIDTH-1:0] rem1;
reg [3:0]  bavail1;
reg        msgs_one;
// For each byte offset k of the word, a block whose 2-byte prefix starts there: bytes from k
// to the word's end, prefix complete, block complete (length fits in the word), zero length,
// its length, body bytes taken in this word and body bytes left after this word.
reg [IN_BYTES*4-1:0]         at_a;
reg [IN_BYTES-1:0]           at_full;
reg [IN_BYTES-1:0]           at_fit;
reg [IN_BYTES-1:0]           at_zero;
reg [IN_BYTES*LEN_WIDTH-1:0] at_len;
reg [IN_BYTES*4-1:0]         at_take;
reg [IN_BYTES*LEN_WIDTH-1:0] at_rem;
reg [IN_BYTES*4-1:0]         at_e;     // offset just past the block, when it fits
reg [IN_BYTES-1:0]           at_more;  // it fits and more bytes follow it in the word
reg        more1;
reg        hdr_word;
reg [6:0]  pos_cont;
reg [3:0]  at_ab;
reg [LEN_WIDTH-1:0] at_l;
reg [SEQ_WIDTH-1:0] seq_diff;
reg [IN_BYTES*8-1:0] seg_bytes;
// Two zero bytes past the beat so a prefix read at the last offsets stays in range.
wire [8*(IN_BYTES+2)-1:0] in_pad = {16'd0, s_axis_tdata};
integer    i;

always @* begin
    // Loop index assigned on every path, or synthesis infers a latch for it.
    i = 0;
    state_next = state_reg;
    hdr_beat_next = hdr_beat_reg;
    file_mode_next = cfg_file_mode;
    session_next = session_reg;
    session_valid_next = session_valid_reg;
    hdr_session_next = hdr_session_reg;
    hdr_lo_match_next = hdr_lo_match_reg;
    hdr_match_next = hdr_match_reg;
    hdr_seq_hi_next = hdr_seq_hi_reg;
    pre_cnt_next = pre_cnt_reg;
    len_hi_next = len_hi_reg;
    blk_len_next = blk_len_reg;
    rem_next = rem_reg;
    pos_next = pos_reg;
    msgs_left_next = msgs_left_reg;
    cur_seq_next = cur_seq_reg;
    split_next = split_reg;
    split_off_next = split_off_reg;
    d_valid_next = d_valid_reg;
    d_data_next = d_data_reg;
    d_bs_next = d_bs_reg;
    d_take_next = d_take_reg;
    d_pos_next = d_pos_reg;
    d_keep_old_next = d_keep_old_reg;
    d_emit_next = d_emit_reg;
    d_start2_next = d_start2_reg;
    d_bs2_next = d_bs2_reg;
    d_take2_next = d_take2_reg;
    d_len_next = d_len_reg;
    d_seq_next = d_seq_reg;
    d_seq1_next = d_seq1_reg;
    d_restart_next = d_restart_reg;
    msg_next = msg_reg;
    p_valid_next = p_valid_reg;
    p_data_next = p_data_reg;
    p_keep_next = p_keep_reg;
    p_len_next = p_len_reg;
    p_seq_next = p_seq_reg;
    p_seq1_next = p_seq1_reg;
    p_restart_next = p_restart_reg;
    exp_seq_next = exp_seq_reg;
    exp_valid_next = exp_valid_reg;
    m_valid_next = m_valid_reg;
    m_data_next = m_data_reg;
    m_keep_next = m_keep_reg;
    m_user_next = m_user_reg;
    seq_gaps_next = seq_gaps_reg + inc_gaps_reg;
    seq_dups_next = seq_dups_reg + {63'd0, inc_dups_reg};
    packets_next = packets_reg + {{(STAT_WIDTH-1){1'b0}}, inc_packets_reg};
    heartbeats_next = heartbeats_reg + {{(STAT_WIDTH-1){1'b0}}, inc_heartbeats_reg};
    eos_next = eos_reg + {{(STAT_WIDTH-1){1'b0}}, inc_eos_reg};
    wrong_session_next = wrong_session_reg + {{(STAT_WIDTH-1){1'b0}}, inc_wrong_session_reg};
    truncated_next = truncated_reg + {{(STAT_WIDTH-1){1'b0}}, inc_truncated_reg};
    count_mismatch_next = count_mismatch_reg +
        {{(STAT_WIDTH-1){1'b0}}, inc_count_mismatch_reg};
    zero_length_next = zero_length_reg + {{(STAT_WIDTH-1){1'b0}}, inc_zero_length_reg};
    messages_next = messages_reg + {{(STAT_WIDTH-1){1'b0}}, inc_messages_reg};
    inc_gaps_next = 64'd0;
    inc_dups_next = 1'b0;
    inc_packets_next = 1'b0;
    inc_heartbeats_next = 1'b0;
    inc_eos_next = 1'b0;
    inc_wrong_session_next = 1'b0;
    inc_truncated_next = 1'b0;
    inc_count_mismatch_next = 1'b0;
    inc_zero_length_next = 1'b0;
    inc_messages_next = 1'b0;

    body_ok = 1'b0;
    drop_rest = 1'b0;
    // Where the parse of this word starts and what it may emit are fixed by registered state
    // alone (the header word's accept decision only gates the result), so the parse does
    // not wait for the session and count checks.
    hdr_word = !cfg_file_mode && state_reg == STATE_HDR && hdr_beat_reg == 2'd2;
    x0 = hdr_word ? HDR_BLOCK_OFFSET : (split_reg ? split_off_reg : 4'd0);
    avail = 4'd0;
    msgs_avail = hdr_word || cfg_file_mode || msgs_left_reg != 16'd0;
    msgs_left_now = msgs_left_reg;
    msgs_one = hdr_word ? hdr_count == 16'd1 : msgs_left_reg == 16'd1;
    rem1 = rem_reg;
    more1 = 1'b0;
    pos_cont = (pos_reg + {3'd0, in_bytes} > MSG_BYTES) ? MSG_BYTES :
        pos_reg + {3'd0, in_bytes};
    bavail1 = 4'd0;
    seq_now = hdr_word ? {hdr_seq_hi_reg, s_axis_tdata[7:0], s_axis_tdata[15:8]} : cur_seq_reg;
    hdr_count = {s_axis_tdata[23:16], s_axis_tdata[31:24]};
    pfx = 2'd0;
    len_known = 1'b0;
    blk_len = blk_len_reg;
    pos_eff = pos_reg;
    bs = 4'd0;
    take = 4'd0;
    done1 = 1'b0;
    zero1 = 1'b0;
    e1 = 5'd0;
    pfx2 = 2'd0;
    len2 = {LEN_WIDTH{1'b0}};
    bavail2 = 4'd0;
    split_now = 1'b0;
    gap = 1'b0;
    msg_work = msg_reg;
    seg_bytes = {IN_BYTES*8{1'b0}};
    seq_diff = p_seq_reg - exp_seq_reg;

    in_bytes = 4'd0;
    for (i = 0; i < IN_BYTES; i = i + 1) begin
        if (s_axis_tkeep[i]) begin
            in_bytes = i[3:0] + 4'd1;
        end
    end

    for (i = 0; i < IN_BYTES; i = i + 1) begin
        at_a[4*i +: 4] = (in_bytes > i[3:0]) ? in_bytes - i[3:0] : 4'd0;
        at_full[i] = at_a[4*i +: 4] >= 4'd2;
        at_ab = at_a[4*i +: 4] - 4'd2;
        at_l = {in_pad[8*i +: 8], in_pad[8*(i+1) +: 8]};
        at_len[LEN_WIDTH*i +: LEN_WIDTH] = at_l;
        at_fit[i] = at_full[i] && at_l[LEN_WIDTH-1:4] == {(LEN_WIDTH-4){1'b0}} &&
            at_l[3:0] <= at_ab;
        at_zero[i] = at_full[i] && at_l == {LEN_WIDTH{1'b0}};
        at_take[4*i +: 4] = at_fit[i] ? at_l[3:0] : at_ab;
        at_rem[LEN_WIDTH*i +: LEN_WIDTH] = at_l - {{(LEN_WIDTH-4){1'b0}}, at_ab};
        at_e[4*i +: 4] = i[3:0] + 4'd2 + at_l[3:0];
        at_more[i] = at_full[i] && at_l[LEN_WIDTH-1:4] == {(LEN_WIDTH-4){1'b0}} &&
            at_l[3:0] < at_ab;
    end

    // The whole pipeline advances together; the book's tready is rarely low, so a global
    // stall costs nothing and keeps every stage a plain register.
    en = !m_valid_reg || m_axis_tready;
    s_ready = en;

    if (en) begin
        // Stage 2: per-message sequencing, exactly the book contract's rule.
        m_valid_next = 1'b0;
        if (p_valid_reg) begin
            // A restart travels with the first word parsed in the new mode; the messages
            // behind it see no expected number, as if it had been cleared there.
            if (exp_valid_reg && !p_restart_reg && p_seq_reg < exp_seq_reg) begin
                inc_dups_next = 1'b1;
            end else begin
                if (exp_valid_reg && !p_restart_reg && p_seq_reg > exp_seq_reg) begin
                    gap = 1'b1;
                    inc_gaps_next = seq_diff;
                end
                exp_seq_next = p_seq1_reg;
                exp_valid_next = 1'b1;
                m_valid_next = 1'b1;
                m_data_next = p_data_reg;
                m_keep_next = p_keep_reg;
                m_user_next = {gap, p_len_reg, p_seq_reg};
                inc_messages_next = 1'b1;
            end
        end
        if (p_restart_reg && !p_valid_reg) begin
            exp_valid_next = 1'b0;
        end

        // Stage A: the parser's placement of this word's body bytes.
        p_valid_next = 1'b0;
        p_restart_next = d_restart_reg;
        if (d_valid_reg) begin
            seg_bytes = (d_data_reg >> {d_bs_reg, 3'b000}) &
                ~({IN_BYTES*8{1'b1}} << {d_take_reg, 3'b000});
            // Bytes past pos are still zero, so an OR places them; beyond MSG_BYTES they
            // fall off.
            msg_work = (d_keep_old_reg ? msg_reg : {MSG_WIDTH{1'b0}}) |
                ({{(MSG_WIDTH-IN_BYTES*8){1'b0}}, seg_bytes} << {d_pos_reg, 3'b000});
            msg_next = msg_work;
            if (d_emit_reg) begin
                p_valid_next = 1'b1;
                p_data_next = msg_work;
                p_keep_next = (d_len_reg >= MSG_BYTES) ? {MSG_BYTES{1'b1}} :
                    ~({MSG_BYTES{1'b1}} << d_len_reg);
                p_len_next = d_len_reg;
                p_seq_next = d_seq_reg;
                p_seq1_next = d_seq1_reg;
            end
            if (d_start2_reg) begin
                seg_bytes = (d_data_reg >> {d_bs2_reg, 3'b000}) &
                    ~({IN_BYTES*8{1'b1}} << {d_take2_reg, 3'b000});
                msg_next = {{(MSG_WIDTH-IN_BYTES*8){1'b0}}, seg_bytes};
            end
        end

        // Stage 1: header and block parsing of one input beat.
        d_valid_next = 1'b0;
        d_emit_next = 1'b0;
        d_start2_next = 1'b0;
        d_restart_next = 1'b0;
        if (s_axis_tvalid) begin
            if (!cfg_enable) begin
                // Disabled: swallow input; Mold restarts at a datagram boundary.
                split_next = 1'b0;
                pre_cnt_next = 2'd0;
                if (!cfg_file_mode) begin
                    state_next = s_axis_tlast ? STATE_HDR : STATE_DROP;
                    hdr_beat_next = 2'd0;
                end
            end else if (cfg_file_mode) begin
                body_ok = 1'b1;
            end else if (state_reg == STATE_DROP) begin
                if (s_axis_tlast) begin
                    state_next = STATE_HDR;
                    hdr_beat_next = 2'd0;
                end
            end else if (state_reg == STATE_BODY) begin
                body_ok = 1'b1;
            end else begin
                // Header beats: a datagram ending inside the 20-byte header is truncated.
                case (hdr_beat_reg)
                    2'd0: begin
                        hdr_session_next[63:0] = s_axis_tdata;
                        hdr_lo_match_next = s_axis_tdata == session_reg[63:0];
                        hdr_beat_next = 2'd1;
                    end
                    2'd1: begin
                        hdr_session_next[79:64] = s_axis_tdata[15:0];
                        hdr_match_next = hdr_lo_match_reg &&
                            s_axis_tdata[15:0] == session_reg[79:64];
                        for (i = 0; i < 6; i = i + 1) begin
                            hdr_seq_hi_next[8*(5-i) +: 8] = s_axis_tdata[8*(i+2) +: 8];
                        end
                        hdr_beat_next = 2'd2;
                    end
                    default: begin
                        hdr_beat_next = 2'd0;
                        if (in_bytes >= 4'd4) begin
                            if (session_valid_reg && !hdr_match_reg) begin
                                inc_wrong_session_next = 1'b1;
                                state_next = s_axis_tlast ? STATE_HDR : STATE_DROP;
                            end else begin
                                // The first datagram fixes the session, as a receiver joining
                                // a feed learns it.
                                session_next = hdr_session_reg;
                                session_valid_next = 1'b1;
                                inc_packets_next = 1'b1;
                                if (hdr_count == COUNT_HEARTBEAT ||
                                        hdr_count == COUNT_END_OF_SESSION) begin
                                    // Sequencing follows messages only (as the book contract
                                    // does), so a heartbeat's number does not move it.
                                    if (hdr_count == COUNT_HEARTBEAT) begin
                                        inc_heartbeats_next = 1'b1;
                                    end else begin
                                        inc_eos_next = 1'b1;
                                    end
                                    state_next = s_axis_tlast ? STATE_HDR : STATE_DROP;
                                end else begin
                                    state_next = STATE_BODY;
                                    body_ok = 1'b1;
                                    msgs_left_now = hdr_count;
                                    cur_seq_next = seq_now;
                                    pre_cnt_next = 2'd0;
                                end
                            end
                        end
                    end
                endcase
                if (s_axis_tlast && !body_ok && hdr_beat_reg != 2'd2) begin
                    inc_truncated_next = 1'b1;
                    hdr_beat_next = 2'd0;
                end else if (s_axis_tlast && hdr_beat_reg == 2'd2 && in_bytes < 4'd4) begin
                    inc_truncated_next = 1'b1;
                end
            end

            if (body_ok) begin
                avail = at_a[4*x0[2:0] +: 4];

                // Segment 1: finish the block in progress (or start one at x0). Every case
                // reads values computed for each start offset straight from the word, so the
                // word-to-word loop is muxes and one short compare, not chained adders.
                if (pre_cnt_reg == 2'd0 && avail != 4'd0 && !msgs_avail) begin
                    // Bytes after the announced number of blocks.
                    inc_count_mismatch_next = 1'b1;
                    drop_rest = 1'b1;
                end else begin
                    pos_eff = (pre_cnt_reg == 2'd2) ? pos_reg : 7'd0;
                    if (pre_cnt_reg == 2'd2) begin
                        pfx = 2'd0;
                        len_known = 1'b1;
                        done1 = rem_reg[LEN_WIDTH-1:4] == {(LEN_WIDTH-4){1'b0}} &&
                            rem_reg[3:0] <= in_bytes;
                        take = done1 ? rem_reg[3:0] : in_bytes;
                        rem1 = rem_reg - {{(LEN_WIDTH-4){1'b0}}, in_bytes};
                        // A block in progress always continues at offset 0 (a held word
                        // restarts with no prefix byte seen), so x0 is 0 here and below.
                        more1 = rem_reg[LEN_WIDTH-1:4] == {(LEN_WIDTH-4){1'b0}} &&
                            rem_reg[3:0] < in_bytes;
                        e1 = {1'b0, rem_reg[3:0]};
                    end else if (pre_cnt_reg == 2'd1) begin
                        pfx = (in_bytes != 4'd0) ? 2'd1 : 2'd0;
                        len_known = in_bytes != 4'd0;
                        blk_len = {len_hi_reg, in_pad[7:0]};
                        bavail1 = in_bytes - 4'd1;
                        if (len_known) begin
                            done1 = blk_len[LEN_WIDTH-1:4] == {(LEN_WIDTH-4){1'b0}} &&
                                blk_len[3:0] <= bavail1;
                            take = done1 ? blk_len[3:0] : bavail1;
                            zero1 = blk_len == {LEN_WIDTH{1'b0}};
                            more1 = blk_len[LEN_WIDTH-1:4] == {(LEN_WIDTH-4){1'b0}} &&
                                blk_len[3:0] < bavail1;
                        end
                        e1 = {1'b0, 4'd1 + blk_len[3:0]};
                        rem1 = blk_len - {{(LEN_WIDTH-4){1'b0}}, bavail1};
                    end else begin
                        len_known = at_full[x0[2:0]];
                        pfx = len_known ? 2'd2 : avail[1:0];
                        blk_len = at_len[LEN_WIDTH*x0[2:0] +: LEN_WIDTH];
                        if (len_known) begin
                            done1 = at_fit[x0[2:0]];
                            take = at_take[4*x0[2:0] +: 4];
                            zero1 = at_zero[x0[2:0]];
                            more1 = at_more[x0[2:0]];
                        end
                        e1 = {1'b0, at_e[4*x0[2:0] +: 4]};
                        rem1 = at_rem[LEN_WIDTH*x0[2:0] +: LEN_WIDTH];
                    end
                    bs = x0 + {2'd0, pfx};

                    d_valid_next = 1'b1;
                    d_data_next = s_axis_tdata;
                    d_bs_next = bs;
                    d_take_next = take;
                    d_pos_next = pos_eff;
                    d_keep_old_next = pre_cnt_reg == 2'd2;

                    if (zero1) begin
                        inc_zero_length_next = 1'b1;
                        pre_cnt_next = 2'd0;
                        // A zero prefix is BinaryFILE's end-of-data mark (skipped); in a
                        // MoldUDP64 datagram it is corrupt and ends the datagram's parse.
                        drop_rest = !cfg_file_mode;
                    end else if (done1) begin
                        d_emit_next = 1'b1;
                        d_len_next = blk_len;
                        d_seq_next = seq_now;
                        d_seq1_next = seq_now + 1'b1;
                        cur_seq_next = seq_now + 1'b1;
                        pre_cnt_next = 2'd0;
                        if (!cfg_file_mode) begin
                            msgs_left_now = msgs_left_now - 16'd1;
                            msgs_avail = !msgs_one;
                        end
                    end else begin
                        pre_cnt_next = pre_cnt_reg + pfx;
                        if (pre_cnt_reg == 2'd0 && pfx == 2'd1) begin
                            len_hi_next = in_pad[8*x0 +: 8];
                        end
                        if (len_known) begin
                            blk_len_next = (pre_cnt_reg == 2'd2) ? blk_len_reg : blk_len;
                            rem_next = rem1;
                            // A block in progress that does not end here takes the whole
                            // word, so its sum does not wait for the end test.
                            pos_next = (pre_cnt_reg == 2'd2) ? pos_cont : {3'd0, take};
                        end
                    end

                    // Segment 2: the next block starting after a completed one in this beat.
                    if (more1 && !drop_rest) begin
                        if (!msgs_avail) begin
                            inc_count_mismatch_next = 1'b1;
                            drop_rest = 1'b1;
                        end else begin
                            pfx2 = at_full[e1[2:0]] ? 2'd2 : 2'd1;
                            bavail2 = at_full[e1[2:0]] ? at_take[4*e1[2:0] +: 4] : 4'd0;
                            len2 = at_len[LEN_WIDTH*e1[2:0] +: LEN_WIDTH];
                            if (at_full[e1[2:0]] && at_fit[e1[2:0]]) begin
                                // Only malformed (< 6 byte) or zero-length blocks get here.
                                split_now = 1'b1;
                            end else begin
                                pre_cnt_next = pfx2;
                                len_hi_next = in_pad[8*e1 +: 8];
                                if (pfx2 == 2'd2) begin
                                    blk_len_next = len2;
                                    rem_next = at_rem[LEN_WIDTH*e1[2:0] +: LEN_WIDTH];
                                    pos_next = {3'd0, bavail2};
                                    d_start2_next = 1'b1;
                                    d_bs2_next = e1[3:0] + 4'd2;
                                    d_take2_next = bavail2;
                                end
                            end
                        end
                    end
                end

                msgs_left_next = msgs_left_now;

                if (split_now) begin
                    s_ready = 1'b0;
                    split_next = 1'b1;
                    split_off_next = e1[3:0];
                end else begin
                    split_next = 1'b0;
                    if (drop_rest) begin
                        pre_cnt_next = 2'd0;
                        if (!cfg_file_mode) begin
                            state_next = s_axis_tlast ? STATE_HDR : STATE_DROP;
                            hdr_beat_next = 2'd0;
                        end
                    end else if (s_axis_tlast && !cfg_file_mode) begin
                        // End of datagram: a block still open is cut short, and fewer blocks
                        // than announced means the header and body disagree.
                        if (pre_cnt_next != 2'd0) begin
                            inc_truncated_next = 1'b1;
                        end else if (msgs_avail) begin
                            inc_count_mismatch_next = 1'b1;
                        end
                        pre_cnt_next = 2'd0;
                        state_next = STATE_HDR;
                        hdr_beat_next = 2'd0;
                    end
                end
            end
        end
    end

    // A mode change restarts framing and sequencing: the two streams number differently.
    if (cfg_file_mode != file_mode_reg) begin
        state_next = STATE_HDR;
        hdr_beat_next = 2'd0;
        pre_cnt_next = 2'd0;
        split_next = 1'b0;
        d_restart_next = 1'b1;
        cur_seq_next = {{(SEQ_WIDTH-1){1'b0}}, 1'b1};
    end
end

always @(posedge clk) begin
    state_reg <= state_next;
    hdr_beat_reg <= hdr_beat_next;
    file_mode_reg <= file_mode_next;
    session_reg <= session_next;
    session_valid_reg <= session_valid_next;
    hdr_session_reg <= hdr_session_next;
    hdr_lo_match_reg <= hdr_lo_match_next;
    hdr_match_reg <= hdr_match_next;
    hdr_seq_hi_reg <= hdr_seq_hi_next;
    pre_cnt_reg <= pre_cnt_next;
    len_hi_reg <= len_hi_next;
    blk_len_reg <= blk_len_next;
    rem_reg <= rem_next;
    pos_reg <= pos_next;
    msgs_left_reg <= msgs_left_next;
    cur_seq_reg <= cur_seq_next;
    split_reg <= split_next;
    split_off_reg <= split_off_next;
    d_valid_reg <= d_valid_next;
    d_data_reg <= d_data_next;
    d_bs_reg <= d_bs_next;
    d_take_reg <= d_take_next;
    d_pos_reg <= d_pos_next;
    d_keep_old_reg <= d_keep_old_next;
    d_emit_reg <= d_emit_next;
    d_start2_reg <= d_start2_next;
    d_bs2_reg <= d_bs2_next;
    d_take2_reg <= d_take2_next;
    d_len_reg <= d_len_next;
    d_seq_reg <= d_seq_next;
    d_seq1_reg <= d_seq1_next;
    d_restart_reg <= d_restart_next;
    msg_reg <= msg_next;
    p_valid_reg <= p_valid_next;
    p_seq1_reg <= p_seq1_next;
    p_restart_reg <= p_restart_next;
    p_data_reg <= p_data_next;
    p_keep_reg <= p_keep_next;
    p_len_reg <= p_len_next;
    p_seq_reg <= p_seq_next;
    exp_seq_reg <= exp_seq_next;
    exp_valid_reg <= exp_valid_next;
    m_valid_reg <= m_valid_next;
    m_data_reg <= m_data_next;
    m_keep_reg <= m_keep_next;
    m_user_reg <= m_user_next;
    seq_gaps_reg <= seq_gaps_next;
    seq_dups_reg <= seq_dups_next;
    packets_reg <= packets_next;
    heartbeats_reg <= heartbeats_next;
    eos_reg <= eos_next;
    wrong_session_reg <= wrong_session_next;
    truncated_reg <= truncated_next;
    count_mismatch_reg <= count_mismatch_next;
    zero_length_reg <= zero_length_next;
    messages_reg <= messages_next;
    inc_gaps_reg <= inc_gaps_next;
    inc_dups_reg <= inc_dups_next;
    inc_packets_reg <= inc_packets_next;
    inc_heartbeats_reg <= inc_heartbeats_next;
    inc_eos_reg <= inc_eos_next;
    inc_wrong_session_reg <= inc_wrong_session_next;
    inc_truncated_reg <= inc_truncated_next;
    inc_count_mismatch_reg <= inc_count_mismatch_next;
    inc_zero_length_reg <= inc_zero_length_next;
    inc_messages_reg <= inc_messages_next;

    if (rst) begin
        state_reg <= STATE_HDR;
        hdr_beat_reg <= 2'd0;
        file_mode_reg <= cfg_file_mode;
        session_valid_reg <= 1'b0;
        pre_cnt_reg <= 2'd0;
        msgs_left_reg <= 16'd0;
        cur_seq_reg <= {{(SEQ_WIDTH-1){1'b0}}, 1'b1};
        split_reg <= 1'b0;
        d_valid_reg <= 1'b0;
        d_emit_reg <= 1'b0;
        d_start2_reg <= 1'b0;
        d_restart_reg <= 1'b0;
        p_valid_reg <= 1'b0;
        p_restart_reg <= 1'b0;
        inc_gaps_reg <= 64'd0;
        inc_dups_reg <= 1'b0;
        inc_packets_reg <= 1'b0;
        inc_heartbeats_reg <= 1'b0;
        inc_eos_reg <= 1'b0;
        inc_wrong_session_reg <= 1'b0;
        inc_truncated_reg <= 1'b0;
        inc_count_mismatch_reg <= 1'b0;
        inc_zero_length_reg <= 1'b0;
        inc_messages_reg <= 1'b0;
        exp_valid_reg <= 1'b0;
        m_valid_reg <= 1'b0;
        seq_gaps_reg <= 64'd0;
        seq_dups_reg <= 64'd0;
        packets_reg <= {STAT_WIDTH{1'b0}};
        heartbeats_reg <= {STAT_WIDTH{1'b0}};
        eos_reg <= {STAT_WIDTH{1'b0}};
        wrong_session_reg <= {STAT_WIDTH{1'b0}};
        truncated_reg <= {STAT_WIDTH{1'b0}};
        count_mismatch_reg <= {STAT_WIDTH{1'b0}};
        zero_length_reg <= {STAT_WIDTH{1'b0}};
        messages_reg <= {STAT_WIDTH{1'b0}};
    end
end

endmodule

`resetall
