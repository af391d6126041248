// Level stage 3 of 3 (L3): apply one micro-op to one side of an instrument's level word: every
// slot takes one of five values with the registered one-hot selects of vx_book_level_select,
// and the tail it chose. Combinational; nothing but AND-OR selects between registers and the
// core's kept word. Side word layout: see vx_book_level_cmp.
`resetall
`timescale 1ns / 1ps
`default_nettype none

module vx_book_level_apply #(
    parameter LEVELS = 16,
    parameter CNT_W = 19,
    parameter NH_W = $clog2(LEVELS + 1),
    parameter LVL_W = 64 + CNT_W,
    parameter TAIL_W = NH_W + CNT_W + 32,
    parameter SIDE_W = LEVELS * LVL_W + TAIL_W
) (
    // the side word's held levels before the micro-op
    input  wire [LEVELS*LVL_W-1:0] levels_in,
    // per level: the level as the micro-op leaves it if its price is equal (vx_book_level_cmp)
    input  wire [LEVELS*LVL_W-1:0] changed,
    // the level an insert creates: one order of the micro-op's qty at its price
    input  wire [LVL_W-1:0]        new_level,
    input  wire [LEVELS-1:0]       sel_cur,
    input  wire [LEVELS-1:0]       sel_chg,
    input  wire [LEVELS-1:0]       sel_up,
    input  wire [LEVELS-1:0]       sel_new,
    input  wire [LEVELS-1:0]       sel_dn,
    input  wire [TAIL_W-1:0]       tail,

    output reg  [SIDE_W-1:0]       side_out
);

localparam LVLS_W = LEVELS * LVL_W;

integer i;
reg [LVL_W-1:0] cur;
reg [LVL_W-1:0] up;
reg [LVL_W-1:0] dn;

always @* begin
    for (i = 0; i < LEVELS; i = i + 1) begin
        cur = levels_in[i*LVL_W +: LVL_W];
        up = (i + 1 < LEVELS) ? levels_in[(i+1)*LVL_W +: LVL_W] : {LVL_W{1'b0}};
        dn = (i > 0) ? levels_in[(i-1)*LVL_W +: LVL_W] : {LVL_W{1'b0}};
        side_out[i*LVL_W +: LVL_W] = (cur & {LVL_W{sel_cur[i]}}) |
            (changed[i*LVL_W +: LVL_W] & {LVL_W{sel_chg[i]}}) | (up & {LVL_W{sel_up[i]}}) |
            (new_level & {LVL_W{sel_new[i]}}) | (dn & {LVL_W{sel_dn[i]}});
    end
    side_out[LVLS_W +: TAIL_W] = tail;
end

endmodule

`resetall
