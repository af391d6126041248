// MoldUDP64 / BinaryFILE framer: turns UDP payloads (or a raw BinaryFILE byte stream) on a
// 64-bit AXI-Stream into one 320-bit beat per ITCH message, with its sequence number, block
// length and a "gap before this message" bit, as the book core expects (docs/hardware.md).
//
// Cut-through: a message leaves as soon as its last byte arrives (five register stages and the
// output queue's register), so a packet whose tail turns out malformed has already delivered its
// good messages; the bad part is counted and dropped, and the next datagram starts clean.
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
localparam [3:0] HDR_BLOCK_OFFSET = 4'd4;
localparam [15:0] COUNT_HEARTBEAT = 16'h0000;
localparam [15:0] COUNT_END_OF_SESSION = 16'hffff;
// Offsets of the next length prefix, relative to the word: up to 7 + 2 + 0xffff.
localparam OFF_WIDTH = LEN_WIDTH + 1;

localparam [1:0]
    STATE_HDR = 2'd0,   // next beat is header beat hdr_beat_reg of a datagram
    STATE_BODY = 2'd1,  // inside the message blocks
    STATE_DROP = 2'd2;  // discard until the end of the datagram

// Stage 0: the input word and, for each byte offset k where a 2-byte length prefix could
// start, what that block would do in this word. All of it depends on the word alone, so the
// parser's word-to-word loop only selects among registered values.
reg                          i_valid_reg, i_valid_next;
reg [IN_BYTES*8-1:0]         i_data_reg, i_data_next;
reg [3:0]                    i_bytes_reg, i_bytes_next;
reg                          i_last_reg, i_last_next;
reg [IN_BYTES-1:0]           i_half_reg, i_half_next;     // only the first one (k is last)
reg [IN_BYTES-1:0]           i_end_reg, i_end_next;       // the block ends in the word
reg [IN_BYTES-1:0]           i_more_reg, i_more_next;     // ... and bytes follow it
reg [IN_BYTES-1:0]           i_zero_reg, i_zero_next;     // zero length
reg [IN_BYTES-1:0]           i_esmall_reg, i_esmall_next; // i_erel < 16
reg [IN_BYTES*LEN_WIDTH-1:0] i_len_reg, i_len_next;
reg [IN_BYTES*OFF_WIDTH-1:0] i_erel_reg, i_erel_next;     // its end, relative to the next word
reg [IN_BYTES*4-1:0]         i_take_reg, i_take_next;     // body bytes it has in this word
reg [IN_BYTES*4-1:0]         i_enx_reg, i_enx_next;       // offset just past it, if it ends
// Entry x: a prefix whose first byte was the previous word's last (its body starts at 1).
reg                          i_xok_reg, i_xok_next;
reg                          i_xend_reg, i_xend_next;
reg                          i_xmore_reg, i_xmore_next;
reg                          i_xzero_reg, i_xzero_next;
reg                          i_xesmall_reg, i_xesmall_next;
reg [LEN_WIDTH-1:0]          i_xlen_reg, i_xlen_next;
reg [OFF_WIDTH-1:0]          i_xerel_reg, i_xerel_next;
reg [3:0]                    i_xtake_reg, i_xtake_next;
reg [3:0]                    i_xenx_reg, i_xenx_next;
// Replay: a copy of stage 0 from the cycle before, so a held word is parsed again from it
// and stage 0 itself never waits on the parser's decision (every load select is registered).
reg                          j_valid_reg;
reg [IN_BYTES*8-1:0]         j_data_reg;
reg [3:0]                    j_bytes_reg;
reg                          j_last_reg;
reg [IN_BYTES-1:0]           j_half_reg;
reg [IN_BYTES-1:0]           j_end_reg;
reg [IN_BYTES-1:0]           j_more_reg;
reg [IN_BYTES-1:0]           j_zero_reg;
reg [IN_BYTES-1:0]           j_esmall_reg;
reg [IN_BYTES*LEN_WIDTH-1:0] j_len_reg;
reg [IN_BYTES*OFF_WIDTH-1:0] j_erel_reg;
reg [IN_BYTES*4-1:0]         j_take_reg;
reg [IN_BYTES*4-1:0]         j_enx_reg;
reg                          j_xok_reg;
reg                          j_xend_reg;
reg                          j_xmore_reg;
reg                          j_xzero_reg;
reg                          j_xesmall_reg;
reg [LEN_WIDTH-1:0]          j_xlen_reg;
reg [OFF_WIDTH-1:0]          j_xerel_reg;
reg [3:0]                    j_xtake_reg;
reg [3:0]                    j_xenx_reg;
reg                          j_ge4_reg;
reg                          j_cnt_hb_reg;
reg                          j_cnt_eos_reg;
reg                          j_cnt1_reg;
reg                          j_cnt2_reg;
reg                          replay_reg, replay_next;    // this cycle puts the held word back
reg                          pend_reg, pend_next;        // j_ holds a word not parsed yet
reg [7:0]                    pl_reg, pl_next;             // last byte of the previous word
// The header word's message count, decoded.
reg                          i_ge4_reg, i_ge4_next;
reg                          i_cnt_hb_reg, i_cnt_hb_next;
reg                          i_cnt_eos_reg, i_cnt_eos_next;
reg                          i_cnt1_reg, i_cnt1_next;
reg                          i_cnt2_reg, i_cnt2_next;

// The configuration inputs, registered here: they come from the register block, which the
// placer puts wherever the AXI-Lite logic sits, and the parser's decisions read them.
reg       cfg_enable_reg;
reg       cfg_file_mode_reg;
reg [1:0] state_reg, state_next;
reg [1:0] hdr_beat_reg, hdr_beat_next;
reg       file_mode_reg, file_mode_next;

reg [79:0] session_reg, session_next;
reg        session_valid_reg, session_valid_next;
reg [79:0] hdr_session_reg, hdr_session_next;
// Session compare done a word at a time as the header arrives, so the header's last word
// only reads one registered bit (session_reg moves only on that last word).
reg        hdr_lo_match_reg, hdr_lo_match_next;
reg        hdr_wrong_reg, hdr_wrong_next;
reg [47:0] hdr_seq_hi_reg, hdr_seq_hi_next;

// Block parser. e_reg is where the next length prefix starts, relative to the current word;
// with open_reg a block body runs up to it. half_reg: the previous word ended with the first
// byte of a prefix (entry x). A word holding two block ends is held (tready low) and parsed
// again from e_reg with no block open.
reg                 open_reg, open_next;
reg                 half_reg, half_next;
reg [OFF_WIDTH-1:0] e_reg, e_next;
reg                 esmall_reg, esmall_next;      // e_reg < 16
reg [15:0]          msgs_left_reg, msgs_left_next;
// msgs_left_reg == 0 and == 1, kept beside it so the count check is one registered bit.
reg                 ml0_reg, ml0_next;
reg                 ml1_reg, ml1_next;
reg                 ml_dec_reg, ml_dec_next;      // msgs_left_reg is one too many

// Stage 1 output: the parser's outcome for the word it parsed, as registered bits. Stage D
// turns them into byte placement a cycle later, reading the word and its per-offset entries
// from the j_ copy (which always holds the word parsed a cycle earlier). So the parser's loop
// drives only its own state and these few registers, not the entry's length and body bytes,
// the open block's length and position or the placement that feeds the wide assembly (in
// the top those pulled the loop's cells across the die).
reg                 x_valid_reg, x_valid_next;     // a body word was parsed
reg                 x_open_reg, x_open_next;       // a block was open into it
reg                 x_open_end_reg, x_open_end_next; // ... and ends in it, at x_e
reg                 x_cont_reg, x_cont_next;       // ... and runs past it
reg [3:0]           x_e_reg, x_e_next;             // e_reg then: the entry parsed is x_e[2:0]
reg [LEN_WIDTH-1:0] x_len_reg, x_len_next;         // the block starting there: its length,
reg [3:0]           x_take_reg, x_take_next;       // its body bytes in the word,
reg [3:0]           x_bs_reg, x_bs_next;           // and the offset its body starts at
reg                 x_emit_reg, x_emit_next;       // a message completes in this word
reg                 x_load_reg, x_load_next;
reg [SEQ_WIDTH-1:0] x_hseq_reg, x_hseq_next;
reg                 x_restart_reg, x_restart_next;

// Stage D output: where this word's body bytes go; the bytes are moved in stage A, so the
// byte shifters stay off the parser's word-to-word loop.
reg [LEN_WIDTH-1:0] blk_len_reg, blk_len_next; // the open block's length
reg [6:0]           pos_reg, pos_next;      // body bytes stored so far, saturates at MSG_BYTES
reg                 d_valid_reg, d_valid_next;     // a body word to place
reg [IN_BYTES*8-1:0] d_data_reg, d_data_next;
// Segment 1 lands in message bytes [d_lo, d_hi): message byte j takes word byte
// (j + d_rot) mod 8, so one byte rotation of the word serves every message lane.
reg [2:0]           d_rot_reg, d_rot_next;
reg [6:0]           d_lo_reg, d_lo_next;
reg [6:0]           d_hi_reg, d_hi_next;
reg                 d_keep_old_reg, d_keep_old_next; // add to the bytes held (same block)
reg                 d_emit_reg, d_emit_next;       // segment 1 completes a message
reg                 d_start2_reg, d_start2_next;   // segment 2 starts a body in this word
reg [3:0]           d_bs2_reg, d_bs2_next;
reg [3:0]           d_take2_reg, d_take2_next;
reg [LEN_WIDTH-1:0] d_len_reg, d_len_next;
reg                 d_load_reg, d_load_next;       // header word: sequence restarts at d_hseq
reg [SEQ_WIDTH-1:0] d_hseq_reg, d_hseq_next;
reg                 d_restart_reg, d_restart_next; // mode change: sequencing restarts after

// Stage A output: message assembled and numbered, not yet sequenced. Numbering sits here so
// the 64-bit increment is off the parser's loop.
reg [SEQ_WIDTH-1:0] seqa_reg, seqa_next;           // number of the next message
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
reg [63:0] inc_gaps_reg, inc_gaps_next;     // the gap size, added when inc_gap_reg
reg        inc_gap_reg, inc_gap_next;
reg        inc_dups_reg, inc_dups_next;
reg        inc_packets_reg, inc_packets_next;
reg        inc_heartbeats_reg, inc_heartbeats_next;
reg        inc_eos_reg, inc_eos_next;
reg        inc_wrong_session_reg, inc_wrong_session_next;
reg        inc_truncated_reg, inc_truncated_next;
reg        inc_count_mismatch_reg, inc_count_mismatch_next;
reg        inc_zero_length_reg, inc_zero_length_next;
// The parser's three events once more, beside their counters: the first registers sit by the
// parser, whose loop would otherwise be pulled towards the counters and the register block.
reg        inc2_truncated_reg;
reg        inc2_count_mismatch_reg;
reg        inc2_zero_length_reg;
reg        inc_messages_reg, inc_messages_next;
// End of a datagram's body, with what decides its counter (a block cut short, or fewer blocks
// than announced), registered as they are so that decision is off the parser's outputs.
reg        ev_tl_reg, ev_tl_next;
reg        ev_pend_reg, ev_pend_next;
reg        ev_left_reg, ev_left_next;

reg s_ready;

assign s_axis_tready = s_ready;
assign m_axis_tlast = 1'b1;

// Output queue. The pipeline never stalls: no register of it waits on the consumer's tready
// (in the top that stall reached every framer register from across the die). The input is
// held instead while the queue could not take every message already on its way. After
// out_room_reg falls, at most 14 more arrive: one from each of stages x, D, A and 2, three
// from each word in stage 0, its j_ copy and the word taken that cycle (a word holds at
// most three block ends, each needing a prefix and a byte), and one for the flag's own
// cycle. Room means at least OUT_FREE of the 2**OUT_ADDR_WIDTH slots are free.
localparam OUT_ADDR_WIDTH = 5;
localparam OUT_FREE = 20;
wire [OUT_ADDR_WIDTH:0] out_count;
reg out_room_reg;

vx_book_fifo #(
    .WIDTH(USER_WIDTH + MSG_BYTES + MSG_WIDTH),
    .ADDR_WIDTH(OUT_ADDR_WIDTH)
) out_queue (
    .clk(clk),
    .rst(rst),
    .in_data({m_user_reg, m_keep_reg, m_data_reg}),
    .in_valid(m_valid_reg),
    .out_data({m_axis_tuser, m_axis_tkeep, m_axis_tdata}),
    .out_valid(m_axis_tvalid),
    .out_pop(m_axis_tready),
    .count(out_count)
);

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

// Combinational working values.
reg        hold;
reg        mode_change;
reg        body_ok;
reg        drop_rest;
reg        hdr_word;
reg [3:0]  in_bytes;
reg [3:0]  ib;
reg [2:0]  k;
reg        start;
reg        open_end;
reg        mismatch;
reg        emit;
reg        ml0;
reg        ml1;
reg        ml2;
reg        parse_hold;
reg        zero_here;
reg        whole_here;
reg        cont;
reg [6:0]  pos_cont;
reg        s_half;
reg        s_end;
reg        s_more;
reg        s_zero;
reg        s_esmall;
reg [OFF_WIDTH-1:0] s_erel;
reg [3:0]  s_enx;
reg [3:0]  at_ab;
reg [LEN_WIDTH-1:0] at_l;
reg [OFF_WIDTH-1:0] at_sum;
reg [SEQ_WIDTH-1:0] seq_base;
reg [SEQ_WIDTH:0]   seq_sub;
reg [SEQ_WIDTH-1:0] seq_diff;
reg        dup;
reg        gap;
reg [MSG_WIDTH-1:0] msg_work;
reg [IN_BYTES*8-1:0] seg_bytes;
reg [IN_BYTES*8-1:0] rot_bytes;
reg [2:0]  rot_idx;
// Two zero bytes past the beat so a prefix read at the last offsets stays in range.
wire [8*(IN_BYTES+2)-1:0] in_pad = {16'd0, s_axis_tdata};
integer    i;

always @* begin
    // Loop index assigned on every path, or synthesis infers a latch for it.
    i = 0;
    i_valid_next = i_valid_reg;
    i_data_next = i_data_reg;
    i_bytes_next = i_bytes_reg;
    i_last_next = i_last_reg;
    i_half_next = i_half_reg;
    i_end_next = i_end_reg;
    i_more_next = i_more_reg;
    i_zero_next = i_zero_reg;
    i_esmall_next = i_esmall_reg;
    i_len_next = i_len_reg;
    i_erel_next = i_erel_reg;
    i_take_next = i_take_reg;
    i_enx_next = i_enx_reg;
    i_xok_next = i_xok_reg;
    i_xend_next = i_xend_reg;
    i_xmore_next = i_xmore_reg;
    i_xzero_next = i_xzero_reg;
    i_xesmall_next = i_xesmall_reg;
    i_xlen_next = i_xlen_reg;
    i_xerel_next = i_xerel_reg;
    i_xtake_next = i_xtake_reg;
    i_xenx_next = i_xenx_reg;
    pl_next = pl_reg;
    i_ge4_next = i_ge4_reg;
    i_cnt_hb_next = i_cnt_hb_reg;
    i_cnt_eos_next = i_cnt_eos_reg;
    i_cnt1_next = i_cnt1_reg;
    i_cnt2_next = i_cnt2_reg;
    state_next = state_reg;
    hdr_beat_next = hdr_beat_reg;
    session_next = session_reg;
    session_valid_next = session_valid_reg;
    hdr_session_next = hdr_session_reg;
    hdr_lo_match_next = hdr_lo_match_reg;
    hdr_wrong_next = hdr_wrong_reg;
    hdr_seq_hi_next = hdr_seq_hi_reg;
    open_next = open_reg;
    half_next = half_reg;
    e_next = e_reg;
    esmall_next = esmall_reg;
    blk_len_next = blk_len_reg;
    pos_next = pos_reg;
    msgs_left_next = msgs_left_reg;
    ml0_next = ml0_reg;
    ml1_next = ml1_reg;
    ml_dec_next = ml_dec_reg;
    d_data_next = d_data_reg;
    d_rot_next = d_rot_reg;
    d_lo_next = d_lo_reg;
    d_hi_next = d_hi_reg;
    d_keep_old_next = d_keep_old_reg;
    d_bs2_next = d_bs2_reg;
    d_take2_next = d_take2_reg;
    d_len_next = d_len_reg;
    seqa_next = seqa_reg;
    msg_next = msg_reg;
    p_data_next = p_data_reg;
    p_keep_next = p_keep_reg;
    p_len_next = p_len_reg;
    p_seq_next = p_seq_reg;
    p_seq1_next = p_seq1_reg;
    exp_seq_next = exp_seq_reg;
    exp_valid_next = exp_valid_reg;
    seq_gaps_next = seq_gaps_reg + (inc_gap_reg ? inc_gaps_reg : 64'd0);
    seq_dups_next = seq_dups_reg + {63'd0, inc_dups_reg};
    packets_next = packets_reg + {{(STAT_WIDTH-1){1'b0}}, inc_packets_reg};
    heartbeats_next = heartbeats_reg + {{(STAT_WIDTH-1){1'b0}}, inc_heartbeats_reg};
    eos_next = eos_reg + {{(STAT_WIDTH-1){1'b0}}, inc_eos_reg};
    wrong_session_next = wrong_session_reg + {{(STAT_WIDTH-1){1'b0}}, inc_wrong_session_reg};
    truncated_next = truncated_reg + {{(STAT_WIDTH-1){1'b0}}, inc2_truncated_reg};
    count_mismatch_next = count_mismatch_reg + {{(STAT_WIDTH-1){1'b0}}, inc2_count_mismatch_reg};
    zero_length_next = zero_length_reg + {{(STAT_WIDTH-1){1'b0}}, inc2_zero_length_reg};
    messages_next = messages_reg + {{(STAT_WIDTH-1){1'b0}}, inc_messages_reg};
    inc_gaps_next = seq_diff;
    inc_gap_next = 1'b0;
    inc_dups_next = 1'b0;
    inc_packets_next = 1'b0;
    inc_heartbeats_next = 1'b0;
    inc_eos_next = 1'b0;
    inc_wrong_session_next = 1'b0;
    inc_truncated_next = 1'b0;
    inc_count_mismatch_next = 1'b0;
    inc_zero_length_next = 1'b0;
    inc_messages_next = 1'b0;
    ev_tl_next = 1'b0;
    ev_pend_next = ev_pend_reg;
    ev_left_next = ev_left_reg;

    hold = 1'b0;
    in_bytes = 4'd0;
    at_ab = 4'd0;
    at_l = {LEN_WIDTH{1'b0}};
    at_sum = {OFF_WIDTH{1'b0}};
    body_ok = 1'b0;
    drop_rest = 1'b0;
    zero_here = 1'b0;
    whole_here = 1'b0;
    emit = 1'b0;
    msg_work = msg_reg;
    seg_bytes = {IN_BYTES*8{1'b0}};
    rot_bytes = {IN_BYTES*8{1'b0}};
    rot_idx = 3'd0;
    seq_base = seqa_reg;
    // One subtraction gives the duplicate test (its borrow), the gap test and the gap size.
    seq_sub = {1'b0, p_seq_reg} - {1'b0, exp_seq_reg};
    seq_diff = seq_sub[SEQ_WIDTH-1:0];
    dup = exp_valid_reg && seq_sub[SEQ_WIDTH];
    gap = exp_valid_reg && !seq_sub[SEQ_WIDTH] && p_seq_reg != exp_seq_reg;
    mode_change = cfg_file_mode_reg != file_mode_reg;

    // Parser working values: everything is read from stage 0's registers and the parser's
    // own state, never from s_axis.
    ib = i_bytes_reg;
    k = e_reg[2:0];
    hdr_word = !cfg_file_mode_reg && state_reg == STATE_HDR && hdr_beat_reg == 2'd2;
    start = half_reg ? i_xok_reg : (esmall_reg && e_reg[3:0] < ib);
    open_end = open_reg && esmall_reg && e_reg[3:0] <= ib;
    ml0 = !hdr_word && ml0_reg;
    ml1 = hdr_word ? i_cnt1_reg : ml1_reg;
    // Two compares with constants, then a select: as one compare with a selected constant,
    // Yosys shared the count's decrement (msgs_left - ml_dec) and put its carry chain first.
    ml2 = hdr_word ? i_cnt2_reg : ml_dec_reg ? msgs_left_reg == 16'd3 : msgs_left_reg == 16'd2;
    mismatch = !cfg_file_mode_reg && start && !half_reg && (open_reg ? ml1_reg : ml0);
    // Past MSG_BYTES the count stops (bytes there fall off), so no compare follows the sum.
    pos_cont = (pos_reg >= MSG_BYTES) ? pos_reg : pos_reg + {3'd0, j_bytes_reg};
    cont = open_reg && !open_end;
    if (half_reg) begin
        s_half = 1'b0;
        s_end = i_xend_reg;
        s_more = i_xmore_reg;
        s_zero = i_xzero_reg;
        s_esmall = i_xesmall_reg;
        s_erel = i_xerel_reg;
        s_enx = i_xenx_reg;
    end else begin
        s_half = i_half_reg[k];
        s_end = i_end_reg[k];
        s_more = i_more_reg[k];
        s_zero = i_zero_reg[k];
        s_esmall = i_esmall_reg[k];
        s_erel = i_erel_reg[OFF_WIDTH*k +: OFF_WIDTH];
        s_enx = i_enx_reg[4*k +: 4];
    end
    // A second block end in this word: after an open block, any block that ends here (only
    // blocks under 6 bytes or a zero length); with none open, bytes left after a block that
    // starts and ends here. Written apart from the outcomes below (and equal to them) since
    // it gates stage 0's load and s_axis_tready.
    parse_hold = start && !mismatch && !s_half &&
        (open_reg ? s_end : s_more && (cfg_file_mode_reg || !s_zero));

    file_mode_next = cfg_file_mode_reg;

    // Stage 2: per-message sequencing, exactly the book contract's rule.
    // The output data load whenever the stage advances (valid says whether they are a
    // beat), so the compare only reaches a few bits and the expected number.
    m_valid_next = p_valid_reg && !dup;
    m_data_next = p_data_reg;
    m_keep_next = p_keep_reg;
    m_user_next = {gap, p_len_reg, p_seq_reg};
    inc_dups_next = p_valid_reg && dup;
    inc_gap_next = p_valid_reg && gap;
    inc_messages_next = p_valid_reg && !dup;
    if (p_valid_reg && !dup) begin
        exp_seq_next = p_seq1_reg;
        exp_valid_next = 1'b1;
    end
    // A restart travels alone, ahead of the first word parsed in the new mode, so the
    // messages behind it see no expected number.
    if (p_restart_reg) begin
        exp_valid_next = 1'b0;
    end

    // Stage A: the parser's placement of this word's body bytes, and numbering.
    p_valid_next = 1'b0;
    p_restart_next = d_restart_reg;
    if (d_valid_reg) begin
        for (i = 0; i < IN_BYTES; i = i + 1) begin
            rot_idx = i[2:0] + d_rot_reg;
            rot_bytes[8*i +: 8] = d_data_reg[8*rot_idx +: 8];
        end
        // Bytes past the block's stored ones are still zero, so an OR places them;
        // beyond MSG_BYTES they fall off.
        msg_work = d_keep_old_reg ? msg_reg : {MSG_WIDTH{1'b0}};
        for (i = 0; i < MSG_BYTES; i = i + 1) begin
            if (i[6:0] >= d_lo_reg && i[6:0] < d_hi_reg) begin
                msg_work[8*i +: 8] = msg_work[8*i +: 8] | rot_bytes[8*(i % IN_BYTES) +: 8];
            end
        end
        msg_next = msg_work;
        seq_base = d_load_reg ? d_hseq_reg : seqa_reg;
        seqa_next = seq_base;
        if (d_emit_reg) begin
            p_valid_next = 1'b1;
            p_data_next = msg_work;
            p_keep_next = (d_len_reg >= MSG_BYTES) ? {MSG_BYTES{1'b1}} :
                ~({MSG_BYTES{1'b1}} << d_len_reg);
            p_len_next = d_len_reg;
            p_seq_next = seq_base;
            p_seq1_next = seq_base + 1'b1;
            seqa_next = seq_base + 1'b1;
        end
        if (d_start2_reg) begin
            seg_bytes = (d_data_reg >> {d_bs2_reg, 3'b000}) &
                ~({IN_BYTES*8{1'b1}} << {d_take2_reg, 3'b000});
            msg_next = {{(MSG_WIDTH-IN_BYTES*8){1'b0}}, seg_bytes};
        end
    end
    if (d_restart_reg) begin
        seqa_next = {{(SEQ_WIDTH-1){1'b0}}, 1'b1};
    end

    // Stage D: the parse of the previous cycle as byte placement, with the open block's
    // length and position (read here only).
    d_valid_next = x_valid_reg;
    d_emit_next = x_valid_reg && x_emit_reg;
    d_start2_next = x_valid_reg && x_open_end_reg;
    d_load_next = x_load_reg;
    d_hseq_next = x_hseq_reg;
    d_restart_next = x_restart_reg;
    if (x_valid_reg) begin
        d_data_next = j_data_reg;
        d_keep_old_next = x_open_reg;
        d_len_next = x_open_reg ? blk_len_reg : x_len_reg;
        if (x_open_reg) begin
            // Segment 1: the open block's bytes, up to its end or the word's.
            d_rot_next = 3'd0 - pos_reg[2:0];
            d_lo_next = pos_reg;
            d_hi_next = x_open_end_reg ? pos_reg + {3'd0, x_e_reg} :
                pos_reg + {3'd0, j_bytes_reg};
        end else begin
            // Segment 1: the body of a block starting here (the bytes placed when no
            // body follows are never read: the next block starts afresh).
            d_rot_next = x_bs_reg[2:0];
            d_lo_next = 7'd0;
            d_hi_next = {3'd0, x_take_reg};
        end
        // Segment 2: a body that starts after the open block's end.
        d_bs2_next = x_bs_reg;
        d_take2_next = x_take_reg;
        pos_next = x_cont_reg ? pos_cont : {3'd0, x_take_reg};
        blk_len_next = x_cont_reg ? blk_len_reg : x_len_reg;
    end

    // Stage 1: header and block parsing of the word in stage 0.
    x_valid_next = 1'b0;
    x_emit_next = 1'b0;
    x_load_next = 1'b0;
    x_restart_next = 1'b0;
    // The outcome's fields load every cycle, whatever the parse decides: stage D reads them
    // only with x_valid (x_hseq only with x_load), so no enable waits on the header and
    // mode decisions.
    x_open_next = open_reg;
    x_open_end_next = open_end;
    x_cont_next = cont;
    x_e_next = e_reg[3:0];
    x_hseq_next = {hdr_seq_hi_reg, i_data_reg[7:0], i_data_reg[15:8]};
    // The block starting at entry e (or x, after a split prefix), for stage D: selected here
    // from the word's entries, off the parser loop, so stage D starts from registers.
    if (half_reg) begin
        x_len_next = i_xlen_reg;
        x_take_next = i_xtake_reg;
        x_bs_next = 4'd1;
    end else begin
        x_len_next = i_len_reg[LEN_WIDTH*e_reg[2:0] +: LEN_WIDTH];
        x_take_next = i_take_reg[4*e_reg[2:0] +: 4];
        x_bs_next = {1'b0, e_reg[2:0]} + 4'd2;
    end
    if (mode_change) begin
        // A mode change restarts framing and sequencing: the two streams number
        // differently. The word waiting, if any, is parsed next cycle in the new mode.
        hold = 1'b1;
        state_next = STATE_HDR;
        hdr_beat_next = 2'd0;
        open_next = 1'b0;
        half_next = 1'b0;
        e_next = {OFF_WIDTH{1'b0}};
        esmall_next = 1'b1;
        x_restart_next = 1'b1;
    end else if (i_valid_reg && !replay_reg) begin
        if (!cfg_enable_reg) begin
            // Disabled: swallow input; Mold restarts at a datagram boundary.
            open_next = 1'b0;
            half_next = 1'b0;
            e_next = {OFF_WIDTH{1'b0}};
            esmall_next = 1'b1;
            if (!cfg_file_mode_reg) begin
                state_next = i_last_reg ? STATE_HDR : STATE_DROP;
                hdr_beat_next = 2'd0;
            end
        end else if (cfg_file_mode_reg) begin
            body_ok = 1'b1;
        end else if (state_reg == STATE_DROP) begin
            if (i_last_reg) begin
                state_next = STATE_HDR;
                hdr_beat_next = 2'd0;
            end
        end else if (state_reg == STATE_BODY) begin
            body_ok = 1'b1;
        end else begin
            // Header beats: a datagram ending inside the 20-byte header is truncated.
            // The first block starts at a fixed offset of the header's last word.
            open_next = 1'b0;
            half_next = 1'b0;
            e_next = {{(OFF_WIDTH-4){1'b0}}, HDR_BLOCK_OFFSET};
            esmall_next = 1'b1;
            case (hdr_beat_reg)
                2'd0: begin
                    hdr_session_next[63:0] = i_data_reg;
                    hdr_lo_match_next = i_data_reg == session_reg[63:0];
                    hdr_beat_next = 2'd1;
                end
                2'd1: begin
                    hdr_session_next[79:64] = i_data_reg[15:0];
                    // Decided here, a beat early: the session is fixed only by a last
                    // header beat, so it is the same in the next.
                    hdr_wrong_next = session_valid_reg && !(hdr_lo_match_reg &&
                        i_data_reg[15:0] == session_reg[79:64]);
                    for (i = 0; i < 6; i = i + 1) begin
                        hdr_seq_hi_next[8*(5-i) +: 8] = i_data_reg[8*(i+2) +: 8];
                    end
                    hdr_beat_next = 2'd2;
                end
                default: begin
                    hdr_beat_next = 2'd0;
                    if (i_ge4_reg) begin
                        if (hdr_wrong_reg) begin
                            inc_wrong_session_next = 1'b1;
                            state_next = i_last_reg ? STATE_HDR : STATE_DROP;
                        end else begin
                            // The first datagram fixes the session, as a receiver joining
                            // a feed learns it.
                            session_next = hdr_session_reg;
                            session_valid_next = 1'b1;
                            inc_packets_next = 1'b1;
                            if (i_cnt_hb_reg || i_cnt_eos_reg) begin
                                // Sequencing follows messages only (as the book contract
                                // does), so a heartbeat's number does not move it.
                                if (i_cnt_hb_reg) begin
                                    inc_heartbeats_next = 1'b1;
                                end else begin
                                    inc_eos_next = 1'b1;
                                end
                                state_next = i_last_reg ? STATE_HDR : STATE_DROP;
                            end else begin
                                state_next = STATE_BODY;
                                body_ok = 1'b1;
                                x_load_next = 1'b1;
                            end
                        end
                    end
                end
            endcase
            if (i_last_reg && !body_ok && hdr_beat_reg != 2'd2) begin
                inc_truncated_next = 1'b1;
                hdr_beat_next = 2'd0;
            end else if (i_last_reg && hdr_beat_reg == 2'd2 && !i_ge4_reg) begin
                inc_truncated_next = 1'b1;
            end
        end

        if (body_ok) begin
            // One block boundary per cycle: the block open up to e_reg ends here, and/or
            // a prefix starts at e_reg (entry x after a split prefix). Each register takes
            // the fewest decisions it can: fields read only in some outcomes load in all,
            // and the next state leaves out the count check (a count mismatch drops the
            // rest of the datagram; the next header sets the state again).
            hold = parse_hold;
            x_valid_next = 1'b1;
            open_next = cont || (start && !s_half && !s_end);
            half_next = half_reg ? !start : start && s_half;
            if (cont || !start || s_half) begin
                e_next = e_reg - {{(OFF_WIDTH-4){1'b0}}, ib};
                esmall_next = e_reg < {{(OFF_WIDTH-5){1'b0}}, 1'b1, ib};
            end else if (open_reg && s_end) begin
                // A second block end in this word (only blocks under 6 bytes or a zero
                // length): parsed again from the same word.
                e_next = e_reg;
                esmall_next = 1'b1;
            end else if (s_end) begin
                // A block wholly in this word (no block was open), or a zero length.
                e_next = s_more ? {{(OFF_WIDTH-4){1'b0}}, s_enx} : {OFF_WIDTH{1'b0}};
                esmall_next = 1'b1;
            end else begin
                // A block that continues into the next word.
                e_next = s_erel;
                esmall_next = s_esmall;
            end

            // Messages and counts: a block wholly here is delivered unless the count check
            // fails; a zero length ends a MoldUDP64 datagram's parse (BinaryFILE: skipped).
            zero_here = start && !mismatch && !s_half && !open_reg && s_zero;
            whole_here = start && !s_half && !open_reg && !s_zero && s_end;
            emit = open_end || (whole_here && !mismatch);
            x_emit_next = emit;
            // The 16-bit count takes this cycle's message a cycle late (ml_dec_reg), so it
            // loads from registers only; the flags follow at once.
            msgs_left_next = hdr_word ? {i_data_reg[23:16], i_data_reg[31:24]} :
                msgs_left_reg - {15'd0, ml_dec_reg};
            ml_dec_next = (open_end || whole_here) && !cfg_file_mode_reg;
            ml0_next = ml_dec_next ? ml1 : ml0;
            ml1_next = ml_dec_next ? ml2 : ml1;
            inc_count_mismatch_next = mismatch;
            inc_zero_length_next = zero_here;
            drop_rest = mismatch || (zero_here && !cfg_file_mode_reg);

            // MoldUDP64 state (hdr_beat_reg is already 0 here, or set to 0 by the header
            // word): a count mismatch or a zero length drops the rest of the datagram; its
            // end finishes the parse unless the word is held.
            if (!cfg_file_mode_reg) begin
                if (i_last_reg) begin
                    state_next = hold ? STATE_BODY : STATE_HDR;
                end else if (drop_rest) begin
                    state_next = STATE_DROP;
                end
            end
            // End of datagram: a block still open is cut short, and fewer blocks than
            // announced means the header and body disagree. The two facts load on every
            // parse (read only with ev_tl_reg), so only ev_tl waits on the outcome.
            ev_tl_next = !drop_rest && !hold && i_last_reg && !cfg_file_mode_reg;
            ev_pend_next = open_next || half_next;
            ev_left_next = emit ? !ml1 : !ml0;
        end
    end

    // Stage 0. A held word cannot keep stage 0 from loading (that enable would wait on
    // the whole parse): the next word loads anyway, the held one is copied back from j_
    // the cycle after (a bubble for the parser) and parsed again, and the word that
    // loaded meanwhile follows from j_. Input waits during those two cycles.
    replay_next = !replay_reg && i_valid_reg && hold;
    pend_next = replay_reg;
    if (replay_reg || pend_reg) begin
        i_valid_next = j_valid_reg;
        i_data_next = j_data_reg;
        i_bytes_next = j_bytes_reg;
        i_last_next = j_last_reg;
        i_half_next = j_half_reg;
        i_end_next = j_end_reg;
        i_more_next = j_more_reg;
        i_zero_next = j_zero_reg;
        i_esmall_next = j_esmall_reg;
        i_len_next = j_len_reg;
        i_erel_next = j_erel_reg;
        i_take_next = j_take_reg;
        i_enx_next = j_enx_reg;
        i_xok_next = j_xok_reg;
        i_xend_next = j_xend_reg;
        i_xmore_next = j_xmore_reg;
        i_xzero_next = j_xzero_reg;
        i_xesmall_next = j_xesmall_reg;
        i_xlen_next = j_xlen_reg;
        i_xerel_next = j_xerel_reg;
        i_xtake_next = j_xtake_reg;
        i_xenx_next = j_xenx_reg;
        i_ge4_next = j_ge4_reg;
        i_cnt_hb_next = j_cnt_hb_reg;
        i_cnt_eos_next = j_cnt_eos_reg;
        i_cnt1_next = j_cnt1_reg;
        i_cnt2_next = j_cnt2_reg;
    end else begin
        // A word is taken only while the output queue has room (s_axis_tready).
        i_valid_next = s_axis_tvalid && out_room_reg;
        for (i = 0; i < IN_BYTES; i = i + 1) begin
            if (s_axis_tkeep[i]) begin
                in_bytes = i[3:0] + 4'd1;
            end
        end
        i_data_next = s_axis_tdata;
        i_bytes_next = in_bytes;
        i_last_next = s_axis_tlast;
        for (i = 0; i < IN_BYTES; i = i + 1) begin
            at_ab = in_bytes - i[3:0] - 4'd2;
            at_l = {in_pad[8*i +: 8], in_pad[8*(i+1) +: 8]};
            at_sum = {1'b0, at_l} + i[OFF_WIDTH-1:0] + {{(OFF_WIDTH-2){1'b0}}, 2'd2};
            i_half_next[i] = in_bytes == i[3:0] + 4'd1;
            i_end_next[i] = at_sum <= {{(OFF_WIDTH-4){1'b0}}, in_bytes};
            i_more_next[i] = at_sum < {{(OFF_WIDTH-4){1'b0}}, in_bytes};
            i_zero_next[i] = at_l == {LEN_WIDTH{1'b0}};
            i_len_next[LEN_WIDTH*i +: LEN_WIDTH] = at_l;
            i_erel_next[OFF_WIDTH*i +: OFF_WIDTH] =
                at_sum - {{(OFF_WIDTH-4){1'b0}}, in_bytes};
            i_esmall_next[i] = at_sum < {{(OFF_WIDTH-5){1'b0}}, 1'b1, in_bytes};
            i_take_next[4*i +: 4] = i_end_next[i] ? at_l[3:0] : at_ab;
            i_enx_next[4*i +: 4] = at_sum[3:0];
        end
        at_l = {pl_reg, s_axis_tdata[7:0]};
        at_sum = {1'b0, at_l} + {{(OFF_WIDTH-1){1'b0}}, 1'b1};
        i_xok_next = in_bytes != 4'd0;
        i_xend_next = at_sum <= {{(OFF_WIDTH-4){1'b0}}, in_bytes};
        i_xmore_next = at_sum < {{(OFF_WIDTH-4){1'b0}}, in_bytes};
        i_xzero_next = at_l == {LEN_WIDTH{1'b0}};
        i_xlen_next = at_l;
        i_xerel_next = at_sum - {{(OFF_WIDTH-4){1'b0}}, in_bytes};
        i_xesmall_next = at_sum < {{(OFF_WIDTH-5){1'b0}}, 1'b1, in_bytes};
        i_xtake_next = i_xend_next ? at_l[3:0] : in_bytes - 4'd1;
        i_xenx_next = at_sum[3:0];
        if (s_axis_tvalid && out_room_reg && in_bytes != 4'd0) begin
            pl_next = in_pad[8*(in_bytes-4'd1) +: 8];
        end
        i_ge4_next = in_bytes >= 4'd4;
        i_cnt_hb_next = {s_axis_tdata[23:16], s_axis_tdata[31:24]} == COUNT_HEARTBEAT;
        i_cnt_eos_next =
            {s_axis_tdata[23:16], s_axis_tdata[31:24]} == COUNT_END_OF_SESSION;
        i_cnt1_next = {s_axis_tdata[23:16], s_axis_tdata[31:24]} == 16'd1;
        i_cnt2_next = {s_axis_tdata[23:16], s_axis_tdata[31:24]} == 16'd2;
    end
    s_ready = out_room_reg && !replay_reg && !pend_reg;
end

always @(posedge clk) begin
    cfg_enable_reg <= cfg_enable;
    cfg_file_mode_reg <= cfg_file_mode;
    out_room_reg <= out_count <= (1 << OUT_ADDR_WIDTH) - OUT_FREE;
    j_valid_reg <= i_valid_reg;
    j_data_reg <= i_data_reg;
    j_bytes_reg <= i_bytes_reg;
    j_last_reg <= i_last_reg;
    j_half_reg <= i_half_reg;
    j_end_reg <= i_end_reg;
    j_more_reg <= i_more_reg;
    j_zero_reg <= i_zero_reg;
    j_esmall_reg <= i_esmall_reg;
    j_len_reg <= i_len_reg;
    j_erel_reg <= i_erel_reg;
    j_take_reg <= i_take_reg;
    j_enx_reg <= i_enx_reg;
    j_xok_reg <= i_xok_reg;
    j_xend_reg <= i_xend_reg;
    j_xmore_reg <= i_xmore_reg;
    j_xzero_reg <= i_xzero_reg;
    j_xesmall_reg <= i_xesmall_reg;
    j_xlen_reg <= i_xlen_reg;
    j_xerel_reg <= i_xerel_reg;
    j_xtake_reg <= i_xtake_reg;
    j_xenx_reg <= i_xenx_reg;
    j_ge4_reg <= i_ge4_reg;
    j_cnt_hb_reg <= i_cnt_hb_reg;
    j_cnt_eos_reg <= i_cnt_eos_reg;
    j_cnt1_reg <= i_cnt1_reg;
    j_cnt2_reg <= i_cnt2_reg;
    i_valid_reg <= i_valid_next;
    i_data_reg <= i_data_next;
    i_bytes_reg <= i_bytes_next;
    i_last_reg <= i_last_next;
    i_half_reg <= i_half_next;
    i_end_reg <= i_end_next;
    i_more_reg <= i_more_next;
    i_zero_reg <= i_zero_next;
    i_esmall_reg <= i_esmall_next;
    i_len_reg <= i_len_next;
    i_erel_reg <= i_erel_next;
    i_take_reg <= i_take_next;
    i_enx_reg <= i_enx_next;
    i_xok_reg <= i_xok_next;
    i_xend_reg <= i_xend_next;
    i_xmore_reg <= i_xmore_next;
    i_xzero_reg <= i_xzero_next;
    i_xesmall_reg <= i_xesmall_next;
    i_xlen_reg <= i_xlen_next;
    i_xerel_reg <= i_xerel_next;
    i_xtake_reg <= i_xtake_next;
    i_xenx_reg <= i_xenx_next;
    pl_reg <= pl_next;
    replay_reg <= replay_next;
    pend_reg <= pend_next;
    i_ge4_reg <= i_ge4_next;
    i_cnt_hb_reg <= i_cnt_hb_next;
    i_cnt_eos_reg <= i_cnt_eos_next;
    i_cnt1_reg <= i_cnt1_next;
    i_cnt2_reg <= i_cnt2_next;
    state_reg <= state_next;
    hdr_beat_reg <= hdr_beat_next;
    file_mode_reg <= file_mode_next;
    session_reg <= session_next;
    session_valid_reg <= session_valid_next;
    hdr_session_reg <= hdr_session_next;
    hdr_lo_match_reg <= hdr_lo_match_next;
    hdr_wrong_reg <= hdr_wrong_next;
    hdr_seq_hi_reg <= hdr_seq_hi_next;
    open_reg <= open_next;
    half_reg <= half_next;
    e_reg <= e_next;
    esmall_reg <= esmall_next;
    blk_len_reg <= blk_len_next;
    pos_reg <= pos_next;
    msgs_left_reg <= msgs_left_next;
    ml0_reg <= ml0_next;
    ml1_reg <= ml1_next;
    ml_dec_reg <= ml_dec_next;
    x_valid_reg <= x_valid_next;
    x_len_reg <= x_len_next;
    x_take_reg <= x_take_next;
    x_bs_reg <= x_bs_next;
    x_open_reg <= x_open_next;
    x_open_end_reg <= x_open_end_next;
    x_cont_reg <= x_cont_next;
    x_e_reg <= x_e_next;
    x_emit_reg <= x_emit_next;
    x_load_reg <= x_load_next;
    x_hseq_reg <= x_hseq_next;
    x_restart_reg <= x_restart_next;
    d_valid_reg <= d_valid_next;
    d_data_reg <= d_data_next;
    d_rot_reg <= d_rot_next;
    d_lo_reg <= d_lo_next;
    d_hi_reg <= d_hi_next;
    d_keep_old_reg <= d_keep_old_next;
    d_emit_reg <= d_emit_next;
    d_start2_reg <= d_start2_next;
    d_bs2_reg <= d_bs2_next;
    d_take2_reg <= d_take2_next;
    d_len_reg <= d_len_next;
    d_load_reg <= d_load_next;
    d_hseq_reg <= d_hseq_next;
    d_restart_reg <= d_restart_next;
    seqa_reg <= seqa_next;
    msg_reg <= msg_next;
    p_valid_reg <= p_valid_next;
    p_data_reg <= p_data_next;
    p_keep_reg <= p_keep_next;
    p_len_reg <= p_len_next;
    p_seq_reg <= p_seq_next;
    p_seq1_reg <= p_seq1_next;
    p_restart_reg <= p_restart_next;
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
    inc_gap_reg <= inc_gap_next;
    inc_dups_reg <= inc_dups_next;
    inc_packets_reg <= inc_packets_next;
    inc_heartbeats_reg <= inc_heartbeats_next;
    inc_eos_reg <= inc_eos_next;
    inc_wrong_session_reg <= inc_wrong_session_next;
    inc_truncated_reg <= inc_truncated_next;
    inc_count_mismatch_reg <= inc_count_mismatch_next;
    inc_zero_length_reg <= inc_zero_length_next;
    inc2_truncated_reg <= inc_truncated_reg || (ev_tl_reg && ev_pend_reg);
    inc2_count_mismatch_reg <= inc_count_mismatch_reg || (ev_tl_reg && !ev_pend_reg && ev_left_reg);
    inc2_zero_length_reg <= inc_zero_length_reg;
    inc_messages_reg <= inc_messages_next;
    ev_tl_reg <= ev_tl_next;
    ev_pend_reg <= ev_pend_next;
    ev_left_reg <= ev_left_next;

    if (rst) begin
        i_valid_reg <= 1'b0;
        replay_reg <= 1'b0;
        pend_reg <= 1'b0;
        state_reg <= STATE_HDR;
        hdr_beat_reg <= 2'd0;
        file_mode_reg <= cfg_file_mode_reg;
        session_valid_reg <= 1'b0;
        open_reg <= 1'b0;
        half_reg <= 1'b0;
        e_reg <= {OFF_WIDTH{1'b0}};
        esmall_reg <= 1'b1;
        msgs_left_reg <= 16'd0;
        ml0_reg <= 1'b1;
        ml1_reg <= 1'b0;
        ml_dec_reg <= 1'b0;
        x_valid_reg <= 1'b0;
        x_emit_reg <= 1'b0;
        x_load_reg <= 1'b0;
        x_restart_reg <= 1'b0;
        d_valid_reg <= 1'b0;
        d_emit_reg <= 1'b0;
        d_start2_reg <= 1'b0;
        d_load_reg <= 1'b0;
        d_restart_reg <= 1'b0;
        seqa_reg <= {{(SEQ_WIDTH-1){1'b0}}, 1'b1};
        p_valid_reg <= 1'b0;
        p_restart_reg <= 1'b0;
        inc_gap_reg <= 1'b0;
        inc_dups_reg <= 1'b0;
        inc_packets_reg <= 1'b0;
        inc_heartbeats_reg <= 1'b0;
        inc_eos_reg <= 1'b0;
        inc_wrong_session_reg <= 1'b0;
        inc_truncated_reg <= 1'b0;
        inc_count_mismatch_reg <= 1'b0;
        inc_zero_length_reg <= 1'b0;
        inc2_truncated_reg <= 1'b0;
        inc2_count_mismatch_reg <= 1'b0;
        inc2_zero_length_reg <= 1'b0;
        inc_messages_reg <= 1'b0;
        ev_tl_reg <= 1'b0;
        exp_valid_reg <= 1'b0;
        m_valid_reg <= 1'b0;
        out_room_reg <= 1'b1;
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
