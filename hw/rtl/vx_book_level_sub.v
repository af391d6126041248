// Take shares (and optionally one order) off one side of an instrument's level word
// (docs/book-engine.md, "Remove" and the level part of E/C/X). Combinational. `bound` is
// left alone: removing orders never makes the best price beyond better.
//
// Side word layout (shared with vx_book_level_add and vx_book_engine), LVL_W = 64 + CNT_W:
//   level i at [i*LVL_W +: LVL_W] = {count[CNT_W], qty[32], price[32]}, best first
//   n_held  at [LEVELS*LVL_W +: NH_W]
//   beyond  at [LEVELS*LVL_W + NH_W +: CNT_W]
//   bound   at [LEVELS*LVL_W + NH_W + CNT_W +: 32] (best price beyond; valid while beyond > 0)
// Slots at and past n_held are kept zero so equal books have equal words.
`resetall
`timescale 1ns / 1ps
`default_nettype none

module vx_book_level_sub #(
    parameter LEVELS = 16,
    parameter CNT_W = 19,
    parameter NH_W = $clog2(LEVELS + 1),
    parameter LVL_W = 64 + CNT_W,
    parameter SIDE_W = LEVELS * LVL_W + NH_W + CNT_W + 32
) (
    input  wire              enable,
    input  wire [SIDE_W-1:0] side_in,
    input  wire [31:0]       price,
    input  wire [31:0]       qty,
    // 1: the order leaves the book (its count goes); 0: a partial execution or cancel
    input  wire              remove_order,
    output reg  [SIDE_W-1:0] side_out
);

localparam LVLS_W = LEVELS * LVL_W;

integer i;

reg [NH_W-1:0] n_held;
reg [CNT_W-1:0] beyond;
reg found;
// One-hot slot of the first held level at `price`: slots are selected by static compares, not
// by a part-select at idx*LVL_W, which synthesises as a barrel shifter over the whole word.
reg [LEVELS-1:0] hit;
// Slots at and below the hit move up when its last order leaves.
reg [LEVELS-1:0] at_or_after_hit;
reg [LVL_W-1:0] hit_lvl;
reg [31:0] hit_qty;
reg [CNT_W-1:0] hit_cnt;
// One spare zero slot past the end so "the level below" exists for the last slot too.
reg [LVLS_W+LVL_W-1:0] lvls_up;
reg [LVLS_W-1:0] lvls;

always @* begin
    n_held = side_in[LVLS_W +: NH_W];
    beyond = side_in[LVLS_W + NH_W +: CNT_W];
    lvls = side_in[LVLS_W-1:0];
    lvls_up = {{LVL_W{1'b0}}, lvls};

    found = 1'b0;
    hit = {LEVELS{1'b0}};
    at_or_after_hit = {LEVELS{1'b0}};
    hit_lvl = {LVL_W{1'b0}};
    for (i = 0; i < LEVELS; i = i + 1) begin
        if (!found && i < n_held && lvls[i*LVL_W +: 32] == price) begin
            found = 1'b1;
            hit[i] = 1'b1;
        end
        at_or_after_hit[i] = found;
        hit_lvl = hit_lvl | (lvls[i*LVL_W +: LVL_W] & {LVL_W{hit[i]}});
    end
    hit_qty = hit_lvl[63:32] - qty;
    hit_cnt = hit_lvl[64 +: CNT_W] - {{CNT_W-1{1'b0}}, remove_order};

    side_out = side_in;
    if (enable) begin
        if (found) begin
            for (i = 0; i < LEVELS; i = i + 1) begin
                if (remove_order && hit_cnt == 0) begin
                    // Last order of the level: the levels below move up one slot.
                    if (at_or_after_hit[i]) begin
                        side_out[i*LVL_W +: LVL_W] = lvls_up[(i+1)*LVL_W +: LVL_W];
                    end
                end else if (hit[i]) begin
                    side_out[i*LVL_W +: LVL_W] = {hit_cnt, hit_qty, hit_lvl[31:0]};
                end
            end
            if (remove_order && hit_cnt == 0) begin
                side_out[LVLS_W +: NH_W] = n_held - 1'b1;
            end
        end else if (remove_order) begin
            // Not in a held level: the order was one of those beyond them.
            side_out[LVLS_W + NH_W +: CNT_W] = beyond - 1'b1;
        end
    end
end

endmodule

`resetall
