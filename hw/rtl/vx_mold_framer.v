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
reg [47:0] hdr_seq_hi_reg, hdr_seq_hi_next;

// Block parser: pre_cnt = length prefix bytes seen (2 = inside the body).
reg [1:0]           pre_cnt_reg, pre_cnt_next;
reg [7:0]           len_hi_reg, len_hi_next;
reg [LEN_WIDTH-1:0] blk_len_reg, blk_len_next;
reg [LEN_WIDTH-1:0] rem_reg, rem_next;
reg [6:0]           pos_reg, pos_next;      // body bytes stored so far, saturates at MSG_BYTES
reg [MSG_WIDTH-1:0] msg_reg, msg_next;
reg [15:0]          msgs_left_reg, msgs_left_next;
reg [SEQ_WIDTH-1:0] cur_seq_reg, cur_seq_next;

// A beat holding a complete short block after a completed message cannot be finished in one
// cycle (one message beat per cycle): it is held (tready low) and resumed from split_off.
reg       split_reg, split_next;
reg [3:0] split_off_reg, split_off_next;

// Stage 1 output: message assembled, not yet sequenced.
reg                 p_valid_reg, p_valid_next;
reg [MSG_WIDTH-1:0] p_data_reg, p_data_next;
reg [MSG_BYTES-1:0] p_keep_reg, p_keep_next;
reg [LEN_WIDTH-1:0] p_len_reg, p_len_next;
reg [SEQ_WIDTH-1:0] p_seq_reg, p_seq_next;

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
reg [LEN_WIDTH-1:0] rem_eff;
reg [6:0]  pos_eff;
reg [3:0]  bs;
reg [3:0]  bavail;
reg [3:0]  take;
reg        done1;
reg        zero1;
reg [4:0]  e1;
reg [3:0]  a2;
reg [1:0]  pfx2;
reg [LEN_WIDTH-1:0] len2;
reg [3:0]  bavail2;
reg        split_now;
reg        gap;
reg [MSG_WIDTH-1:0] msg_work;
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
    hdr_seq_hi_next = hdr_seq_hi_reg;
    pre_cnt_next = pre_cnt_reg;
    len_hi_next = len_hi_reg;
    blk_len_next = blk_len_reg;
    rem_next = rem_reg;
    pos_next = pos_reg;
    msg_next = msg_reg;
    msgs_left_next = msgs_left_reg;
    cur_seq_next = cur_seq_reg;
    split_next = split_reg;
    split_off_next = split_off_reg;
    p_valid_next = p_valid_reg;
    p_data_next = p_data_reg;
    p_keep_next = p_keep_reg;
    p_len_next = p_len_reg;
    p_seq_next = p_seq_reg;
    exp_seq_next = exp_seq_reg;
    exp_valid_next = exp_valid_reg;
    m_valid_next = m_valid_reg;
    m_data_next = m_data_reg;
    m_keep_next = m_keep_reg;
    m_user_next = m_user_reg;
    seq_gaps_next = seq_gaps_reg;
    seq_dups_next = seq_dups_reg;
    packets_next = packets_reg;
    heartbeats_next = heartbeats_reg;
    eos_next = eos_reg;
    wrong_session_next = wrong_session_reg;
    truncated_next = truncated_reg;
    count_mismatch_next = count_mismatch_reg;
    zero_length_next = zero_length_reg;
    messages_next = messages_reg;

    body_ok = 1'b0;
    drop_rest = 1'b0;
    x0 = 4'd0;
    avail = 4'd0;
    msgs_avail = 1'b0;
    msgs_left_now = msgs_left_reg;
    seq_now = cur_seq_reg;
    hdr_count = {s_axis_tdata[23:16], s_axis_tdata[31:24]};
    pfx = 2'd0;
    len_known = 1'b0;
    blk_len = blk_len_reg;
    rem_eff = rem_reg;
    pos_eff = pos_reg;
    bs = 4'd0;
    bavail = 4'd0;
    take = 4'd0;
    done1 = 1'b0;
    zero1 = 1'b0;
    e1 = 5'd0;
    a2 = 4'd0;
    pfx2 = 2'd0;
    len2 = {LEN_WIDTH{1'b0}};
    bavail2 = 4'd0;
    split_now = 1'b0;
    gap = 1'b0;
    msg_work = msg_reg;
    seg_bytes = {IN_BYTES*8{1'b0}};

    in_bytes = 4'd0;
    for (i = 0; i < IN_BYTES; i = i + 1) begin
        if (s_axis_tkeep[i]) begin
            in_bytes = i[3:0] + 4'd1;
        end
    end

    // The whole pipeline advances together; the book's tready is rarely low, so a global
    // stall costs nothing and keeps every stage a plain register.
    en = !m_valid_reg || m_axis_tready;
    s_ready = en;

    if (en) begin
        // Stage 2: per-message sequencing, exactly the book contract's rule.
        m_valid_next = 1'b0;
        p_valid_next = 1'b0;
        if (p_valid_reg) begin
            if (exp_valid_reg && p_seq_reg < exp_seq_reg) begin
                seq_dups_next = seq_dups_reg + 64'd1;
            end else begin
                if (exp_valid_reg && p_seq_reg > exp_seq_reg) begin
                    gap = 1'b1;
                    seq_gaps_next = seq_gaps_reg + (p_seq_reg - exp_seq_reg);
                end
                exp_seq_next = p_seq_reg + 1'b1;
                exp_valid_next = 1'b1;
                m_valid_next = 1'b1;
                m_data_next = p_data_reg;
                m_keep_next = p_keep_reg;
                m_user_next = {gap, p_len_reg, p_seq_reg};
                messages_next = messages_reg + 1'b1;
            end
        end

        // Stage 1: header and block parsing of one input beat.
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
                msgs_avail = 1'b1;
                x0 = split_reg ? split_off_reg : 4'd0;
            end else if (state_reg == STATE_DROP) begin
                if (s_axis_tlast) begin
                    state_next = STATE_HDR;
                    hdr_beat_next = 2'd0;
                end
            end else if (state_reg == STATE_BODY) begin
                body_ok = 1'b1;
                msgs_avail = msgs_left_reg != 16'd0;
                x0 = split_reg ? split_off_reg : 4'd0;
            end else begin
                // Header beats: a datagram ending inside the 20-byte header is truncated.
                case (hdr_beat_reg)
                    2'd0: begin
                        hdr_session_next[63:0] = s_axis_tdata;
                        hdr_beat_next = 2'd1;
                    end
                    2'd1: begin
                        hdr_session_next[79:64] = s_axis_tdata[15:0];
                        for (i = 0; i < 6; i = i + 1) begin
                            hdr_seq_hi_next[8*(5-i) +: 8] = s_axis_tdata[8*(i+2) +: 8];
                        end
                        hdr_beat_next = 2'd2;
                    end
                    default: begin
                        hdr_beat_next = 2'd0;
                        if (in_bytes >= 4'd4) begin
                            seq_now = {hdr_seq_hi_reg, s_axis_tdata[7:0], s_axis_tdata[15:8]};
                            if (session_valid_reg && hdr_session_reg != session_reg) begin
                                wrong_session_next = wrong_session_reg + 1'b1;
                                state_next = s_axis_tlast ? STATE_HDR : STATE_DROP;
                            end else begin
                                // The first datagram fixes the session, as a receiver joining
                                // a feed learns it.
                                session_next = hdr_session_reg;
                                session_valid_next = 1'b1;
                                packets_next = packets_reg + 1'b1;
                                if (hdr_count == COUNT_HEARTBEAT ||
                                        hdr_count == COUNT_END_OF_SESSION) begin
                                    // Sequencing follows messages only (as the book contract
                                    // does), so a heartbeat's number does not move it.
                                    if (hdr_count == COUNT_HEARTBEAT) begin
                                        heartbeats_next = heartbeats_reg + 1'b1;
                                    end else begin
                                        eos_next = eos_reg + 1'b1;
                                    end
                                    state_next = s_axis_tlast ? STATE_HDR : STATE_DROP;
                                end else begin
                                    state_next = STATE_BODY;
                                    body_ok = 1'b1;
                                    x0 = HDR_BLOCK_OFFSET;
                                    msgs_left_now = hdr_count;
                                    cur_seq_next = seq_now;
                                    msgs_avail = 1'b1;
                                    pre_cnt_next = 2'd0;
                                end
                            end
                        end
                    end
                endcase
                if (s_axis_tlast && !body_ok && hdr_beat_reg != 2'd2) begin
                    truncated_next = truncated_reg + 1'b1;
                    hdr_beat_next = 2'd0;
                end else if (s_axis_tlast && hdr_beat_reg == 2'd2 && in_bytes < 4'd4) begin
                    truncated_next = truncated_reg + 1'b1;
                end
            end

            if (body_ok) begin
                avail = (in_bytes > x0) ? in_bytes - x0 : 4'd0;

                // Segment 1: finish the block in progress (or start one at x0).
                if (pre_cnt_reg == 2'd0 && avail != 4'd0 && !msgs_avail) begin
                    // Bytes after the announced number of blocks.
                    count_mismatch_next = count_mismatch_next + 1'b1;
                    drop_rest = 1'b1;
                end else begin
                    if (pre_cnt_reg == 2'd2) begin
                        pfx = 2'd0;
                    end else if (avail >= {2'd0, 2'd2 - pre_cnt_reg}) begin
                        pfx = 2'd2 - pre_cnt_reg;
                    end else begin
                        pfx = avail[1:0];
                    end
                    len_known = (pre_cnt_reg + pfx) == 2'd2;
                    if (pre_cnt_reg == 2'd1) begin
                        blk_len = {len_hi_reg, in_pad[8*x0 +: 8]};
                    end else if (pre_cnt_reg == 2'd0) begin
                        blk_len = {in_pad[8*x0 +: 8], in_pad[8*(x0+1) +: 8]};
                    end
                    rem_eff = (pre_cnt_reg == 2'd2) ? rem_reg : blk_len;
                    pos_eff = (pre_cnt_reg == 2'd2) ? pos_reg : 7'd0;
                    msg_work = (pre_cnt_reg == 2'd2) ? msg_reg : {MSG_WIDTH{1'b0}};
                    bs = x0 + {2'd0, pfx};
                    bavail = avail - {2'd0, pfx};
                    if (len_known) begin
                        take = (rem_eff < {{(LEN_WIDTH-4){1'b0}}, bavail}) ?
                            rem_eff[3:0] : bavail;
                        done1 = rem_eff <= {{(LEN_WIDTH-4){1'b0}}, bavail};
                        zero1 = pre_cnt_reg != 2'd2 && blk_len == {LEN_WIDTH{1'b0}};
                    end
                    e1 = {1'b0, bs} + {1'b0, take};

                    // Body bytes of this beat, aligned to byte 0, then placed after the bytes
                    // already held (a shifter, not a mux per byte pair). Bytes past pos_eff
                    // are still zero, so an OR places them; beyond MSG_BYTES they fall off.
                    seg_bytes = (s_axis_tdata >> {bs, 3'b000}) &
                        ~({IN_BYTES*8{1'b1}} << {take, 3'b000});
                    msg_work = msg_work |
                        ({{(MSG_WIDTH-IN_BYTES*8){1'b0}}, seg_bytes} << {pos_eff, 3'b000});

                    if (zero1) begin
                        zero_length_next = zero_length_reg + 1'b1;
                        pre_cnt_next = 2'd0;
                        // A zero prefix is BinaryFILE's end-of-data mark (skipped); in a
                        // MoldUDP64 datagram it is corrupt and ends the datagram's parse.
                        drop_rest = !cfg_file_mode;
                    end else if (done1) begin
                        p_valid_next = 1'b1;
                        p_data_next = msg_work;
                        p_keep_next = (blk_len >= MSG_BYTES) ? {MSG_BYTES{1'b1}} :
                            ~({MSG_BYTES{1'b1}} << blk_len);
                        p_len_next = blk_len;
                        p_seq_next = seq_now;
                        cur_seq_next = seq_now + 1'b1;
                        pre_cnt_next = 2'd0;
                        if (!cfg_file_mode) begin
                            msgs_left_now = msgs_left_now - 16'd1;
                            msgs_avail = msgs_left_now != 16'd0;
                        end
                    end else begin
                        pre_cnt_next = pre_cnt_reg + pfx;
                        if (pre_cnt_reg == 2'd0 && pfx == 2'd1) begin
                            len_hi_next = in_pad[8*x0 +: 8];
                        end
                        if (len_known) begin
                            blk_len_next = (pre_cnt_reg == 2'd2) ? blk_len_reg : blk_len;
                            rem_next = rem_eff - {{(LEN_WIDTH-4){1'b0}}, take};
                            pos_next = (pos_eff + {3'd0, take} > MSG_BYTES) ?
                                MSG_BYTES : pos_eff + {3'd0, take};
                        end
                        msg_next = msg_work;
                    end

                    // Segment 2: the next block starting after a completed one in this beat.
                    if ((done1 || zero1) && !drop_rest && e1 < {1'b0, in_bytes}) begin
                        a2 = in_bytes - e1[3:0];
                        if (!msgs_avail) begin
                            count_mismatch_next = count_mismatch_next + 1'b1;
                            drop_rest = 1'b1;
                        end else begin
                            pfx2 = (a2 >= 4'd2) ? 2'd2 : 2'd1;
                            bavail2 = a2 - {2'd0, pfx2};
                            if (pfx2 == 2'd2) begin
                                len2 = {in_pad[8*e1 +: 8], in_pad[8*(e1+1) +: 8]};
                            end
                            if (pfx2 == 2'd2 && len2 <= {{(LEN_WIDTH-4){1'b0}}, bavail2}) begin
                                // Only malformed (< 6 byte) or zero-length blocks get here.
                                split_now = 1'b1;
                            end else begin
                                pre_cnt_next = pfx2;
                                len_hi_next = in_pad[8*e1 +: 8];
                                msg_next = {MSG_WIDTH{1'b0}};
                                if (pfx2 == 2'd2) begin
                                    blk_len_next = len2;
                                    rem_next = len2 - {{(LEN_WIDTH-4){1'b0}}, bavail2};
                                    pos_next = {3'd0, bavail2};
                                    seg_bytes = (s_axis_tdata >> {e1, 3'b000} >> 16) &
                                        ~({IN_BYTES*8{1'b1}} << {bavail2, 3'b000});
                                    msg_next = {{(MSG_WIDTH-IN_BYTES*8){1'b0}}, seg_bytes};
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
                            truncated_next = truncated_reg + 1'b1;
                        end else if (msgs_left_now != 16'd0) begin
                            count_mismatch_next = count_mismatch_next + 1'b1;
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
        exp_valid_next = 1'b0;
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
    hdr_seq_hi_reg <= hdr_seq_hi_next;
    pre_cnt_reg <= pre_cnt_next;
    len_hi_reg <= len_hi_next;
    blk_len_reg <= blk_len_next;
    rem_reg <= rem_next;
    pos_reg <= pos_next;
    msg_reg <= msg_next;
    msgs_left_reg <= msgs_left_next;
    cur_seq_reg <= cur_seq_next;
    split_reg <= split_next;
    split_off_reg <= split_off_next;
    p_valid_reg <= p_valid_next;
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

    if (rst) begin
        state_reg <= STATE_HDR;
        hdr_beat_reg <= 2'd0;
        file_mode_reg <= cfg_file_mode;
        session_valid_reg <= 1'b0;
        pre_cnt_reg <= 2'd0;
        msgs_left_reg <= 16'd0;
        cur_seq_reg <= {{(SEQ_WIDTH-1){1'b0}}, 1'b1};
        split_reg <= 1'b0;
        p_valid_reg <= 1'b0;
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
