// Book core: ITCH message beats in, top-of-book records out (docs/book-engine.md, bit for
// bit; docs/hardware-book-core.md describes the pipeline).
//
// One table message (A F E C X D U, or R) is in flight at a time, as a short sequence of
// states; the next one is accepted in the cycle its predecessor finishes, so a book message
// costs 2 cycles (one more, plus one for U, when a duplicate reference sits on another
// instrument), never more than the shortest book message's wire time. Other messages only
// bump counters and are accepted every cycle, even while a book message is in flight.
// Cycle by cycle for the common case (beat accepted in cycle 0):
//   0 IDLE  : order-set read issued straight from s_axis_tdata
//   1 RD1   : ways compared (the previous message's same-edge writes forwarded);
//             level words (bid, ask) and instrument state read
//   2 OWN   : levels updated, order entry and level words written, record registered
//   3       : m_axis_tvalid
// U: RD1 frees the original and reads the new reference's set and the original's instrument;
// RD2 compares the new set and, unless the new reference is live on another instrument, does
// the OWN pass in the same cycle (record valid in cycle 3 too). A duplicate reference on
// another instrument adds an OTHER pass before OWN whose record goes out first.
//
// After reset a clear sweep writes every table entry to zero: 2**max(ORDER_SET_BITS,
// LOCATE_BITS) cycles with s_axis_tready low.
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

    output wire [64*NUM_BOOK_COUNTERS-1:0] stat_counters
);

// Widths derived from the capacities.
localparam SB = ORDER_SET_BITS;
localparam WAYS = ORDER_WAYS;
localparam WAY_BITS = (WAYS > 1) ? $clog2(WAYS) : 1;
localparam TAG_W = 64 - SB;
// Counts of orders per level and beyond the held levels: up to every order in the table.
localparam CNT_W = SB + $clog2(WAYS) + 1;
localparam NH_W = $clog2(LEVELS + 1);
localparam LVL_W = 64 + CNT_W;
localparam LVLS_W = LEVELS * LVL_W;
localparam SIDE_W = LVLS_W + NH_W + CNT_W + 32;  // + bound
// Order entry: {valid, tag, locate, bid, price, shares}
localparam ENT_W = 1 + TAG_W + LOCATE_BITS + 1 + 64;
localparam E_PRICE = 32;
localparam E_BID = 64;
localparam E_LOC = 65;
localparam E_TAG = 65 + LOCATE_BITS;
localparam E_VALID = ENT_W - 1;
localparam CLR_BITS = (SB > LOCATE_BITS) ? SB : LOCATE_BITS;
localparam NC = NUM_BOOK_COUNTERS;

localparam [2:0]
    ST_CLEAR = 3'd0,
    ST_IDLE = 3'd1,
    ST_RD1 = 3'd2,
    ST_RD2 = 3'd3,
    ST_OTHER = 3'd4,
    ST_OWN = 3'd5;

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

// ---------------------------------------------------------------------------------------
// Input decode (combinational on the presented beat)
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
wire in_locate_ok = (in_locate >> LOCATE_BITS) == 0;

// ---------------------------------------------------------------------------------------
// Subscription table (registers: every entry is compared in parallel on an R message)
reg [63:0] sub_symbol_reg [0:SUB_SYMBOLS-1];
reg sub_match;
integer si;

always @* begin
    sub_match = 1'b0;
    for (si = 0; si < SUB_SYMBOLS; si = si + 1) begin
        if (si < cfg_sub_count && sub_symbol_reg[si] == in_stock) begin
            sub_match = 1'b1;
        end
    end
end

always @(posedge clk) begin
    if (cfg_sub_wr_en) begin
        sub_symbol_reg[cfg_sub_wr_addr] <= cfg_sub_wr_symbol;
    end
end

// ---------------------------------------------------------------------------------------
// Tables
reg ord_rd_en;
reg [SB-1:0] ord_rd_addr;
wire [WAYS*ENT_W-1:0] ord_rd_data;
reg [WAYS-1:0] ord_wr_en;
reg [WAYS*SB-1:0] ord_wr_addr;
reg [WAYS*ENT_W-1:0] ord_wr_data;

reg lvl_rd_en;
reg [LOCATE_BITS-1:0] lvl_rd_addr;
wire [SIDE_W-1:0] bid_rd_data;
wire [SIDE_W-1:0] ask_rd_data;
wire trk_rd_data;
wire lost_rd_data;
reg lvl_wr_en;
reg [LOCATE_BITS-1:0] lvl_wr_addr;
reg [SIDE_W-1:0] bid_wr_data;
reg [SIDE_W-1:0] ask_wr_data;
reg lost_wr_en;
reg lost_wr_data;
reg trk_wr_en;
reg [LOCATE_BITS-1:0] trk_wr_addr;
reg trk_wr_data;

genvar gw;
generate
    for (gw = 0; gw < WAYS; gw = gw + 1) begin : way
        vx_book_ram #(.WIDTH(ENT_W), .ADDR_WIDTH(SB)) order_ram (
            .clk(clk),
            .wr_en(ord_wr_en[gw]),
            .wr_addr(ord_wr_addr[gw*SB +: SB]),
            .wr_data(ord_wr_data[gw*ENT_W +: ENT_W]),
            .rd_en(ord_rd_en),
            .rd_addr(ord_rd_addr),
            .rd_data(ord_rd_data[gw*ENT_W +: ENT_W])
        );
    end
endgenerate

vx_book_ram #(.WIDTH(SIDE_W), .ADDR_WIDTH(LOCATE_BITS)) bid_ram (
    .clk(clk), .wr_en(lvl_wr_en), .wr_addr(lvl_wr_addr), .wr_data(bid_wr_data),
    .rd_en(lvl_rd_en), .rd_addr(lvl_rd_addr), .rd_data(bid_rd_data)
);

vx_book_ram #(.WIDTH(SIDE_W), .ADDR_WIDTH(LOCATE_BITS)) ask_ram (
    .clk(clk), .wr_en(lvl_wr_en), .wr_addr(lvl_wr_addr), .wr_data(ask_wr_data),
    .rd_en(lvl_rd_en), .rd_addr(lvl_rd_addr), .rd_data(ask_rd_data)
);

// Separate from lost_ram: an R accepted in the cycle a pass writes its orders_lost bit
// writes tracked on the same edge.
vx_book_ram #(.WIDTH(1), .ADDR_WIDTH(LOCATE_BITS)) tracked_ram (
    .clk(clk), .wr_en(trk_wr_en), .wr_addr(trk_wr_addr), .wr_data(trk_wr_data),
    .rd_en(lvl_rd_en), .rd_addr(lvl_rd_addr), .rd_data(trk_rd_data)
);

vx_book_ram #(.WIDTH(1), .ADDR_WIDTH(LOCATE_BITS)) lost_ram (
    .clk(clk), .wr_en(lost_wr_en), .wr_addr(lvl_wr_addr), .wr_data(lost_wr_data),
    .rd_en(lvl_rd_en), .rd_addr(lvl_rd_addr), .rd_data(lost_rd_data)
);

// ---------------------------------------------------------------------------------------
// Registers
reg [2:0] state_reg, state_next;
reg [CLR_BITS-1:0] clr_addr_reg, clr_addr_next;
reg gap_sticky_reg, gap_sticky_next;

reg [7:0] msg_type_reg, msg_type_next;
reg [63:0] msg_seq_reg, msg_seq_next;
reg [47:0] msg_ts_reg, msg_ts_next;
reg [15:0] msg_locate_reg, msg_locate_next;
reg msg_bid_reg, msg_bid_next;
reg [31:0] msg_shares_reg, msg_shares_next;
reg [31:0] msg_price_reg, msg_price_next;
reg [63:0] msg_ref1_reg, msg_ref1_next;
reg [63:0] msg_ref2_reg, msg_ref2_next;
reg msg_gap_reg, msg_gap_next;

// The order the message names (E C X D target, U original)
reg [WAY_BITS-1:0] tgt_way_reg, tgt_way_next;
reg [LOCATE_BITS-1:0] tgt_locate_reg, tgt_locate_next;
reg tgt_bid_reg, tgt_bid_next;
reg [31:0] tgt_price_reg, tgt_price_next;
reg [31:0] tgt_shares_reg, tgt_shares_next;
// A live order holding the reference being added (A F ref, U new ref)
reg dup_en_reg, dup_en_next;
reg dup_in_own_reg, dup_in_own_next;
reg [WAY_BITS-1:0] dup_way_reg, dup_way_next;
reg [LOCATE_BITS-1:0] dup_locate_reg, dup_locate_next;
reg dup_bid_reg, dup_bid_next;
reg [31:0] dup_price_reg, dup_price_next;
reg [31:0] dup_shares_reg, dup_shares_next;
// Where the new order goes
reg [WAY_BITS-1:0] ins_way_reg, ins_way_next;
reg ins_full_reg, ins_full_next;
reg rejected_reg, rejected_next;
reg own_en_reg, own_en_next;
reg [LOCATE_BITS-1:0] own_locate_reg, own_locate_next;
reg other_emit_reg, other_emit_next;

// Writes of the last edge, to forward into a read issued on that same edge.
reg [WAYS-1:0] fwd_we_reg;
reg [WAYS*SB-1:0] fwd_addr_reg;
reg [WAYS*ENT_W-1:0] fwd_data_reg;
reg [SB-1:0] ord_rd_addr_reg;

reg out_valid_reg, out_valid_next;
reg [319:0] out_data_reg, out_data_next;

reg [63:0] counter_reg [0:NC-1];
reg [NC-1:0] cnt_inc;

assign m_axis_tdata = out_data_reg;
assign m_axis_tkeep = {40{1'b1}};
assign m_axis_tvalid = out_valid_reg;
assign m_axis_tlast = 1'b1;

genvar gc;
generate
    for (gc = 0; gc < NC; gc = gc + 1) begin : cnt
        // The framer owns the sequence counters; their slots read zero here.
        assign stat_counters[64*gc +: 64] =
            (gc == `VX_CNT_SEQ_GAPS || gc == `VX_CNT_SEQ_DUPLICATES) ? 64'd0 : counter_reg[gc];
    end
endgenerate

// ---------------------------------------------------------------------------------------
// Order-set lookup (RD1: the named reference; RD2: U's new reference)
reg [ENT_W-1:0] way_ent [0:WAYS-1];
reg [WAYS-1:0] way_valid;
reg lk_hit;
reg [WAY_BITS-1:0] lk_way;
reg [ENT_W-1:0] lk_ent;
/* verilator lint_off UNUSEDSIGNAL */
reg [63:0] lk_ref;  // the low bits chose the set
/* verilator lint_on UNUSEDSIGNAL */
reg [WAYS-1:0] lk_free;
reg lk_full;
reg [WAY_BITS-1:0] lk_free_way;
integer wi;

always @* begin
    lk_ref = (state_reg == ST_RD2) ? msg_ref2_reg : msg_ref1_reg;
    lk_hit = 1'b0;
    lk_way = 0;
    for (wi = 0; wi < WAYS; wi = wi + 1) begin
        if (fwd_we_reg[wi] && fwd_addr_reg[wi*SB +: SB] == ord_rd_addr_reg) begin
            way_ent[wi] = fwd_data_reg[wi*ENT_W +: ENT_W];
        end else begin
            way_ent[wi] = ord_rd_data[wi*ENT_W +: ENT_W];
        end
        way_valid[wi] = way_ent[wi][E_VALID];
        if (!lk_hit && way_valid[wi] && way_ent[wi][E_TAG +: TAG_W] == lk_ref[63:SB]) begin
            lk_hit = 1'b1;
            lk_way = wi[WAY_BITS-1:0];
        end
    end
    lk_ent = way_ent[lk_way];
    // Free ways once the live holder of the reference is removed; lowest one is used.
    lk_free = ~way_valid;
    if (lk_hit) begin
        lk_free[lk_way] = 1'b1;
    end
    lk_full = lk_free == 0;
    lk_free_way = 0;
    for (wi = WAYS - 1; wi >= 0; wi = wi - 1) begin
        if (lk_free[wi]) begin
            lk_free_way = wi[WAY_BITS-1:0];
        end
    end
end

// ---------------------------------------------------------------------------------------
// Level update chain for the pass in progress: up to two removals then one insert, on the
// words of one instrument.
wire is_af = msg_type_reg == T_A || msg_type_reg == T_F;
wire is_u = msg_type_reg == T_U;
wire is_d = msg_type_reg == T_D;
wire in_other = state_reg == ST_OTHER;
wire tracked = trk_rd_data || cfg_sub_count == 0;
wire [31:0] reduce_by = (msg_shares_reg < tgt_shares_reg) ? msg_shares_reg : tgt_shares_reg;

// U finishes in RD2 when the new reference's holder (if any) is on the same instrument: the
// chain then takes the duplicate and the free way straight from the lookup, not the registers.
wire merged = state_reg == ST_RD2;
wire rd2_other = lk_hit && lk_ent[E_LOC +: LOCATE_BITS] != tgt_locate_reg;
wire pass_go = !out_valid_reg || m_axis_tready;  // a pass registers a record
wire own_now = pass_go && (state_reg == ST_OWN || (merged && !rd2_other));
wire dup_in_own_c = merged ? lk_hit : dup_in_own_reg;
wire [WAY_BITS-1:0] dup_way_c = merged ? lk_way : dup_way_reg;
wire dup_bid_c = merged ? lk_ent[E_BID] : dup_bid_reg;
wire [31:0] dup_price_c = merged ? lk_ent[E_PRICE +: 32] : dup_price_reg;
wire [31:0] dup_shares_c = merged ? lk_ent[31:0] : dup_shares_reg;
wire [WAY_BITS-1:0] ins_way_c = merged ? lk_free_way : ins_way_reg;
wire ins_full_c = merged ? lk_full : ins_full_reg;
wire rejected_c = merged ? (msg_shares_reg == 0 || msg_price_reg == 0) : rejected_reg;

wire s1_en = in_other || !is_af || dup_in_own_c;
wire s1_from_dup = in_other || is_af;
wire s1_bid = s1_from_dup ? dup_bid_c : tgt_bid_reg;
wire [31:0] s1_price = s1_from_dup ? dup_price_c : tgt_price_reg;
wire [31:0] s1_qty = s1_from_dup ? dup_shares_c : (is_d || is_u) ? tgt_shares_reg : reduce_by;
wire s1_remove = s1_from_dup || is_d || is_u || reduce_by == tgt_shares_reg;
wire s2_en = !in_other && is_u && dup_in_own_c;
wire add_req = !in_other && ((is_af && tracked) || (is_u && !rejected_c));
wire add_bid = is_af ? msg_bid_reg : tgt_bid_reg;
wire add_overflow;
wire add_apply = add_req && !ins_full_c && !add_overflow;
wire add_to_beyond;
wire add_evicted;

wire [SIDE_W-1:0] s1_out, s2_out, add_out;
wire [SIDE_W-1:0] bid1 = s1_bid ? s1_out : bid_rd_data;
wire [SIDE_W-1:0] ask1 = s1_bid ? ask_rd_data : s1_out;
wire [SIDE_W-1:0] bid2 = dup_bid_c ? s2_out : bid1;
wire [SIDE_W-1:0] ask2 = dup_bid_c ? ask1 : s2_out;
wire [SIDE_W-1:0] bid3 = add_bid ? add_out : bid2;
wire [SIDE_W-1:0] ask3 = add_bid ? ask2 : add_out;

vx_book_level_sub #(.LEVELS(LEVELS), .CNT_W(CNT_W)) sub1 (
    .enable(s1_en), .side_in(s1_bid ? bid_rd_data : ask_rd_data),
    .price(s1_price), .qty(s1_qty), .remove_order(s1_remove), .side_out(s1_out)
);

vx_book_level_sub #(.LEVELS(LEVELS), .CNT_W(CNT_W)) sub2 (
    .enable(s2_en), .side_in(dup_bid_c ? bid1 : ask1),
    .price(dup_price_c), .qty(dup_shares_c), .remove_order(1'b1), .side_out(s2_out)
);

vx_book_level_add #(.LEVELS(LEVELS), .CNT_W(CNT_W)) add (
    .enable(add_apply), .is_bid(add_bid), .side_in(add_bid ? bid2 : ask2),
    .price(msg_price_reg), .qty(msg_shares_reg), .side_out(add_out),
    .qty_overflow(add_overflow), .to_beyond(add_to_beyond), .evicted(add_evicted)
);

// Top of book as the record shows it: price and aggregate of the first held level, zeros
// for an empty side (or an unknown one).
/* verilator lint_off UNUSEDSIGNAL */
function automatic [63:0] side_top(input [SIDE_W-1:0] w);
    side_top = (w[LVLS_W +: NH_W] != 0) ? w[63:0] : 64'd0;
endfunction

function automatic side_unknown(input [SIDE_W-1:0] w);
    side_unknown = w[LVLS_W +: NH_W] == 0 && w[LVLS_W + NH_W +: CNT_W] != 0;
endfunction

function automatic side_truncated(input [SIDE_W-1:0] w);
    side_truncated = w[LVLS_W + NH_W +: CNT_W] != 0;
endfunction

wire [127:0] quad_before = {side_top(ask_rd_data), side_top(bid_rd_data)};
wire [127:0] quad_after = {side_top(ask3), side_top(bid3)};
wire top_changed = quad_before != quad_after;
wire lost_set = add_req && (ins_full_c || add_overflow);
wire lost_after = lost_rd_data || lost_set;
wire [LOCATE_BITS-1:0] pass_locate = in_other ? dup_locate_reg : own_locate_reg;
wire [15:0] rec_flags = {11'd0, msg_gap_reg, lost_after,
    side_truncated(bid3) || side_truncated(ask3), side_unknown(ask3), side_unknown(bid3)};
wire [15:0] rec_locate = {{16-LOCATE_BITS{1'b0}}, pass_locate};
wire [319:0] rec_data = {24'd0, msg_type_reg, quad_after[127:96], quad_after[95:64],
    quad_after[63:32], quad_after[31:0], rec_flags, rec_locate, 16'd0, msg_ts_reg, msg_seq_reg};

function automatic [ENT_W-1:0] make_entry(input [63:0] order_ref, input [LOCATE_BITS-1:0] loc,
                                          input bid, input [31:0] price, input [31:0] shares);
    make_entry = {1'b1, order_ref[63:SB], loc, bid, price, shares};
endfunction
/* verilator lint_on UNUSEDSIGNAL */

// ---------------------------------------------------------------------------------------
reg fsm_done;
reg accept;
reg s_ready;
reg [63:0] ins_ref;
reg [SB-1:0] ins_set;
integer ci;
// Ways are written through static per-way compares: a part-select at way*ENT_W synthesises
// as a barrel shifter over all ways' entries.
integer owi;

assign s_axis_tready = s_ready;

always @* begin
    state_next = state_reg;
    clr_addr_next = clr_addr_reg;
    gap_sticky_next = gap_sticky_reg;
    msg_type_next = msg_type_reg;
    msg_seq_next = msg_seq_reg;
    msg_ts_next = msg_ts_reg;
    msg_locate_next = msg_locate_reg;
    msg_bid_next = msg_bid_reg;
    msg_shares_next = msg_shares_reg;
    msg_price_next = msg_price_reg;
    msg_ref1_next = msg_ref1_reg;
    msg_ref2_next = msg_ref2_reg;
    msg_gap_next = msg_gap_reg;
    tgt_way_next = tgt_way_reg;
    tgt_locate_next = tgt_locate_reg;
    tgt_bid_next = tgt_bid_reg;
    tgt_price_next = tgt_price_reg;
    tgt_shares_next = tgt_shares_reg;
    dup_en_next = dup_en_reg;
    dup_in_own_next = dup_in_own_reg;
    dup_way_next = dup_way_reg;
    dup_locate_next = dup_locate_reg;
    dup_bid_next = dup_bid_reg;
    dup_price_next = dup_price_reg;
    dup_shares_next = dup_shares_reg;
    ins_way_next = ins_way_reg;
    ins_full_next = ins_full_reg;
    rejected_next = rejected_reg;
    own_en_next = own_en_reg;
    own_locate_next = own_locate_reg;
    other_emit_next = other_emit_reg;
    out_valid_next = out_valid_reg && !m_axis_tready;
    out_data_next = out_data_reg;

    // Loop index assigned on every path, or synthesis infers a latch for it.
    owi = 0;
    cnt_inc = 0;
    fsm_done = 1'b0;
    ord_rd_en = 1'b0;
    ord_rd_addr = in_ref1[SB-1:0];
    ord_wr_en = 0;
    ord_wr_addr = 0;
    ord_wr_data = 0;
    lvl_rd_en = 1'b0;
    lvl_rd_addr = own_locate_reg;
    lvl_wr_en = 1'b0;
    lvl_wr_addr = pass_locate;
    bid_wr_data = bid3;
    ask_wr_data = ask3;
    lost_wr_en = 1'b0;
    lost_wr_data = lost_after;
    trk_wr_en = 1'b0;
    trk_wr_addr = in_locate[LOCATE_BITS-1:0];
    trk_wr_data = sub_match;

    ins_ref = is_u ? msg_ref2_reg : msg_ref1_reg;
    ins_set = ins_ref[SB-1:0];

    case (state_reg)
        ST_CLEAR: begin
            ord_wr_en = {WAYS{1'b1}};
            ord_wr_addr = {WAYS{clr_addr_reg[SB-1:0]}};
            lvl_wr_en = 1'b1;
            lvl_wr_addr = clr_addr_reg[LOCATE_BITS-1:0];
            bid_wr_data = 0;
            ask_wr_data = 0;
            lost_wr_en = 1'b1;
            lost_wr_data = 1'b0;
            trk_wr_en = 1'b1;
            trk_wr_addr = clr_addr_reg[LOCATE_BITS-1:0];
            trk_wr_data = 1'b0;
            clr_addr_next = clr_addr_reg + 1'b1;
            if (&clr_addr_reg) begin
                state_next = ST_IDLE;
            end
        end
        ST_RD1: begin
            if (is_af) begin
                dup_en_next = lk_hit;
                dup_way_next = lk_way;
                dup_locate_next = lk_ent[E_LOC +: LOCATE_BITS];
                dup_bid_next = lk_ent[E_BID];
                dup_price_next = lk_ent[E_PRICE +: 32];
                dup_shares_next = lk_ent[31:0];
                ins_way_next = lk_free_way;
                ins_full_next = lk_full;
                own_locate_next = msg_locate_reg[LOCATE_BITS-1:0];
                other_emit_next = 1'b0;
                if (msg_shares_reg == 0 || msg_price_reg == 0) begin
                    // The live order with this reference (if any) stays.
                    cnt_inc[`VX_CNT_REJECTED_ADD] = 1'b1;
                    fsm_done = 1'b1;
                end else begin
                    cnt_inc[`VX_CNT_DUPLICATE_REF] = lk_hit;
                    if ((msg_locate_reg >> LOCATE_BITS) != 0) begin
                        cnt_inc[`VX_CNT_LOCATE_OUT_OF_RANGE] = 1'b1;
                        own_en_next = 1'b0;
                        dup_in_own_next = 1'b0;
                        if (lk_hit) begin
                            state_next = ST_OTHER;
                            lvl_rd_en = 1'b1;
                            lvl_rd_addr = lk_ent[E_LOC +: LOCATE_BITS];
                        end else begin
                            fsm_done = 1'b1;
                        end
                    end else if (lk_hit &&
                            lk_ent[E_LOC +: LOCATE_BITS] != msg_locate_reg[LOCATE_BITS-1:0]) begin
                        own_en_next = 1'b1;
                        dup_in_own_next = 1'b0;
                        state_next = ST_OTHER;
                        lvl_rd_en = 1'b1;
                        lvl_rd_addr = lk_ent[E_LOC +: LOCATE_BITS];
                    end else begin
                        dup_in_own_next = lk_hit;
                        state_next = ST_OWN;
                        lvl_rd_en = 1'b1;
                        lvl_rd_addr = msg_locate_reg[LOCATE_BITS-1:0];
                    end
                end
            end else begin
                tgt_way_next = lk_way;
                tgt_locate_next = lk_ent[E_LOC +: LOCATE_BITS];
                tgt_bid_next = lk_ent[E_BID];
                tgt_price_next = lk_ent[E_PRICE +: 32];
                tgt_shares_next = lk_ent[31:0];
                own_locate_next = lk_ent[E_LOC +: LOCATE_BITS];
                dup_en_next = 1'b0;
                dup_in_own_next = 1'b0;
                other_emit_next = 1'b0;
                if (!lk_hit) begin
                    cnt_inc[`VX_CNT_UNKNOWN_REF] = 1'b1;
                    fsm_done = 1'b1;
                end else if (is_u) begin
                    // Free the original now: RD2's read of the new reference's set is issued
                    // on this edge and sees the write through forwarding.
                    for (owi = 0; owi < WAYS; owi = owi + 1) begin
                        if (owi[WAY_BITS-1:0] == lk_way) begin
                            ord_wr_en[owi] = 1'b1;
                            ord_wr_addr[owi*SB +: SB] = msg_ref1_reg[SB-1:0];
                            ord_wr_data[owi*ENT_W +: ENT_W] = 0;
                        end
                    end
                    ord_rd_en = 1'b1;
                    ord_rd_addr = msg_ref2_reg[SB-1:0];
                    // The original's instrument is read now so RD2 can finish the message.
                    lvl_rd_en = 1'b1;
                    lvl_rd_addr = lk_ent[E_LOC +: LOCATE_BITS];
                    state_next = ST_RD2;
                end else begin
                    state_next = ST_OWN;
                    lvl_rd_en = 1'b1;
                    lvl_rd_addr = lk_ent[E_LOC +: LOCATE_BITS];
                end
            end
        end
        ST_RD2: begin
            dup_en_next = lk_hit;
            dup_way_next = lk_way;
            dup_locate_next = lk_ent[E_LOC +: LOCATE_BITS];
            dup_bid_next = lk_ent[E_BID];
            dup_price_next = lk_ent[E_PRICE +: 32];
            dup_shares_next = lk_ent[31:0];
            ins_way_next = lk_free_way;
            ins_full_next = lk_full;
            cnt_inc[`VX_CNT_DUPLICATE_REF] = lk_hit;
            rejected_next = msg_shares_reg == 0 || msg_price_reg == 0;
            cnt_inc[`VX_CNT_REJECTED_ADD] = msg_shares_reg == 0 || msg_price_reg == 0;
            if (rd2_other) begin
                own_en_next = 1'b1;
                dup_in_own_next = 1'b0;
                state_next = ST_OTHER;
                lvl_rd_en = 1'b1;
                lvl_rd_addr = lk_ent[E_LOC +: LOCATE_BITS];
            end else if (!pass_go) begin
                // Output slot busy: finish in OWN, re-reading the (unchanged) instrument.
                dup_in_own_next = lk_hit;
                state_next = ST_OWN;
                lvl_rd_en = 1'b1;
                lvl_rd_addr = tgt_locate_reg;
            end
            // else: the OWN pass runs in this cycle (own_now)
        end
        ST_OTHER: begin
            if (pass_go) begin
                // The duplicate's instrument: only the removal applies here.
                lvl_wr_en = 1'b1;
                for (owi = 0; owi < WAYS; owi = owi + 1) begin
                    if (owi[WAY_BITS-1:0] == dup_way_reg) begin
                        ord_wr_en[owi] = 1'b1;
                        ord_wr_addr[owi*SB +: SB] = ins_set;
                        ord_wr_data[owi*ENT_W +: ENT_W] = 0;
                    end
                end
                other_emit_next = top_changed;
                if (top_changed) begin
                    out_valid_next = 1'b1;
                    out_data_next = rec_data;
                    cnt_inc[`VX_CNT_RECORDS] = 1'b1;
                end
                if (own_en_reg) begin
                    state_next = ST_OWN;
                    lvl_rd_en = 1'b1;
                    lvl_rd_addr = own_locate_reg;
                end else begin
                    fsm_done = 1'b1;
                end
            end
        end
        default: begin
        end
    endcase

    if (own_now) begin
        // The message's own instrument: removals, insert, write-back and its record.
        lvl_wr_en = 1'b1;
        lost_wr_en = 1'b1;
        fsm_done = 1'b1;
        if (!is_af && !is_u) begin
            for (owi = 0; owi < WAYS; owi = owi + 1) begin
                if (owi[WAY_BITS-1:0] == tgt_way_reg) begin
                    ord_wr_en[owi] = 1'b1;
                    ord_wr_addr[owi*SB +: SB] = msg_ref1_reg[SB-1:0];
                    if (s1_remove) begin
                        ord_wr_data[owi*ENT_W +: ENT_W] = 0;
                    end else begin
                        ord_wr_data[owi*ENT_W +: ENT_W] = make_entry(msg_ref1_reg,
                            tgt_locate_reg, tgt_bid_reg, tgt_price_reg,
                            tgt_shares_reg - reduce_by);
                    end
                end
            end
        end else begin
            // Both writes fall in the new reference's set; when the new order
            // takes the duplicate's way the insert write wins.
            if (dup_in_own_c) begin
                for (owi = 0; owi < WAYS; owi = owi + 1) begin
                    if (owi[WAY_BITS-1:0] == dup_way_c) begin
                        ord_wr_en[owi] = 1'b1;
                        ord_wr_addr[owi*SB +: SB] = ins_set;
                        ord_wr_data[owi*ENT_W +: ENT_W] = 0;
                    end
                end
            end
            if (add_apply) begin
                for (owi = 0; owi < WAYS; owi = owi + 1) begin
                    if (owi[WAY_BITS-1:0] == ins_way_c) begin
                        ord_wr_en[owi] = 1'b1;
                        ord_wr_addr[owi*SB +: SB] = ins_set;
                        ord_wr_data[owi*ENT_W +: ENT_W] = make_entry(ins_ref,
                            own_locate_reg, add_bid, msg_price_reg, msg_shares_reg);
                    end
                end
            end
        end
        if (is_af && !tracked) begin
            cnt_inc[`VX_CNT_UNTRACKED] = 1'b1;
        end
        cnt_inc[`VX_CNT_ORDERS_LOST] = add_req && ins_full_c;
        cnt_inc[`VX_CNT_QTY_OVERFLOW] = add_req && !ins_full_c && add_overflow;
        cnt_inc[`VX_CNT_LEVEL_EVICTIONS] = add_evicted;
        cnt_inc[`VX_CNT_BEYOND_LEVELS] = add_to_beyond;
        if (top_changed) begin
            out_valid_next = 1'b1;
            out_data_next = rec_data;
            cnt_inc[`VX_CNT_RECORDS] = 1'b1;
            cnt_inc[`VX_CNT_DUAL_RECORDS] = other_emit_reg;
        end
    end

    if (fsm_done) begin
        state_next = ST_IDLE;
    end

    // Table messages enter only when the table pipeline is free; everything else enters
    // every cycle (it only counts).
    s_ready = state_reg != ST_CLEAR &&
        (!(in_is_book || in_is_r) || state_reg == ST_IDLE || fsm_done);
    accept = s_axis_tvalid && s_ready;

    if (accept) begin
        gap_sticky_next = gap_sticky_reg || in_gap;
        cnt_inc[`VX_CNT_MESSAGES] = 1'b1;
        cnt_inc[`VX_CNT_UNKNOWN_TYPE] = in_unknown;
        cnt_inc[`VX_CNT_BAD_LENGTH] = in_bad_len;
        cnt_inc[`VX_CNT_BOOK_MESSAGES] = in_is_book;
        if (in_is_r) begin
            // The subscription decides tracking only when the table is in use
            // (an empty table tracks every locate).
            trk_wr_en = in_locate_ok && cfg_sub_count != 0;
        end
        if (in_is_book) begin
            msg_type_next = in_type;
            msg_seq_next = s_axis_tuser[63:0];
            msg_ts_next = in_ts;
            msg_locate_next = in_locate;
            msg_bid_next = in_bid;
            msg_shares_next = in_shares;
            msg_price_next = in_price;
            msg_ref1_next = in_ref1;
            msg_ref2_next = in_ref2;
            msg_gap_next = gap_sticky_reg || in_gap;
            ord_rd_en = 1'b1;
            ord_rd_addr = in_ref1[SB-1:0];
            state_next = ST_RD1;
        end
    end
end

always @(posedge clk) begin
    state_reg <= state_next;
    clr_addr_reg <= clr_addr_next;
    gap_sticky_reg <= gap_sticky_next;
    msg_type_reg <= msg_type_next;
    msg_seq_reg <= msg_seq_next;
    msg_ts_reg <= msg_ts_next;
    msg_locate_reg <= msg_locate_next;
    msg_bid_reg <= msg_bid_next;
    msg_shares_reg <= msg_shares_next;
    msg_price_reg <= msg_price_next;
    msg_ref1_reg <= msg_ref1_next;
    msg_ref2_reg <= msg_ref2_next;
    msg_gap_reg <= msg_gap_next;
    tgt_way_reg <= tgt_way_next;
    tgt_locate_reg <= tgt_locate_next;
    tgt_bid_reg <= tgt_bid_next;
    tgt_price_reg <= tgt_price_next;
    tgt_shares_reg <= tgt_shares_next;
    dup_en_reg <= dup_en_next;
    dup_in_own_reg <= dup_in_own_next;
    dup_way_reg <= dup_way_next;
    dup_locate_reg <= dup_locate_next;
    dup_bid_reg <= dup_bid_next;
    dup_price_reg <= dup_price_next;
    dup_shares_reg <= dup_shares_next;
    ins_way_reg <= ins_way_next;
    ins_full_reg <= ins_full_next;
    rejected_reg <= rejected_next;
    own_en_reg <= own_en_next;
    own_locate_reg <= own_locate_next;
    other_emit_reg <= other_emit_next;
    out_valid_reg <= out_valid_next;
    out_data_reg <= out_data_next;

    fwd_we_reg <= ord_wr_en;
    fwd_addr_reg <= ord_wr_addr;
    fwd_data_reg <= ord_wr_data;
    if (ord_rd_en) begin
        ord_rd_addr_reg <= ord_rd_addr;
    end

    for (ci = 0; ci < NC; ci = ci + 1) begin
        counter_reg[ci] <= counter_reg[ci] + {63'd0, cnt_inc[ci]};
    end

    if (rst) begin
        state_reg <= ST_CLEAR;
        clr_addr_reg <= 0;
        gap_sticky_reg <= 1'b0;
        out_valid_reg <= 1'b0;
        fwd_we_reg <= 0;
        for (ci = 0; ci < NC; ci = ci + 1) begin
            counter_reg[ci] <= 64'd0;
        end
    end
end

endmodule

`resetall
