// Add one order to one side of an instrument's level word (docs/book-engine.md, "Insert"
// step 4: the beyond rule with its per-side `bound`). Combinational. Side word layout: see
// vx_book_level_sub.
`resetall
`timescale 1ns / 1ps
`default_nettype none

module vx_book_level_add #(
    parameter LEVELS = 16,
    parameter CNT_W = 19,
    parameter NH_W = $clog2(LEVELS + 1),
    parameter LVL_W = 64 + CNT_W,
    parameter SIDE_W = LEVELS * LVL_W + NH_W + CNT_W + 32
) (
    // enable must already include "set not full" and "!qty_overflow"
    input  wire              enable,
    input  wire              is_bid,
    input  wire [SIDE_W-1:0] side_in,
    input  wire [31:0]       price,
    input  wire [31:0]       qty,
    output reg  [SIDE_W-1:0] side_out,
    // a held level at this price would pass 2**32 - 1 (independent of enable)
    output reg               qty_overflow,
    output reg               to_beyond,
    output reg               evicted
);

localparam LVLS_W = LEVELS * LVL_W;
localparam BOUND_LSB = LVLS_W + NH_W + CNT_W;
/* verilator lint_off WIDTHTRUNC */
localparam [NH_W-1:0] FULL = LEVELS;
/* verilator lint_on WIDTHTRUNC */

// One loop variable per always block: a shared one would be a latch for synthesis.
integer i;
integer j;

reg [NH_W-1:0] n_held;
reg [CNT_W-1:0] beyond;
reg found;
// One-hot slot of the held level at `price`; slots are picked by static compares (a
// part-select at idx*LVL_W synthesises as a barrel shifter over the whole word).
reg [LEVELS-1:0] hit;
/* verilator lint_off UNUSEDSIGNAL */
reg [LVL_W-1:0] hit_lvl;
reg [LVL_W-1:0] worst_lvl;
/* verilator lint_on UNUSEDSIGNAL */
reg [32:0] sum_qty;
reg [31:0] worst_px;
reg better_than_worst;
reg [31:0] bound;
reg better_than_bound;
reg worst_better_than_bound;
reg [NH_W-1:0] pos;
reg [LVLS_W-1:0] lvls;
// One spare zero slot before the first so "the level above" exists for slot 0 too.
reg [LVLS_W+LVL_W-1:0] lvls_dn;

function automatic better(input bid, input [31:0] a, input [31:0] b);
    // a strictly better than b: higher for bids, lower for asks
    better = bid ? (a > b) : (a < b);
endfunction

always @* begin
    n_held = side_in[LVLS_W +: NH_W];
    beyond = side_in[LVLS_W + NH_W +: CNT_W];
    lvls = side_in[LVLS_W-1:0];
    lvls_dn = {lvls, {LVL_W{1'b0}}};

    found = 1'b0;
    hit = {LEVELS{1'b0}};
    pos = {NH_W{1'b0}};
    hit_lvl = {LVL_W{1'b0}};
    // slot n_held-1 (zero when n_held == 0)
    worst_lvl = {LVL_W{1'b0}};
    for (i = 0; i < LEVELS; i = i + 1) begin
        if (i + 1 == {{32-NH_W{1'b0}}, n_held}) begin
            worst_lvl = lvls[i*LVL_W +: LVL_W];
        end
        if (i < n_held) begin
            if (!found && lvls[i*LVL_W +: 32] == price) begin
                found = 1'b1;
                hit[i] = 1'b1;
            end
            // Levels are sorted best first, so the count of better ones is the slot.
            if (better(is_bid, lvls[i*LVL_W +: 32], price)) begin
                pos = pos + 1'b1;
            end
        end
    end
    for (i = 0; i < LEVELS; i = i + 1) begin
        hit_lvl = hit_lvl | (lvls[i*LVL_W +: LVL_W] & {LVL_W{hit[i]}});
    end
    sum_qty = {1'b0, hit_lvl[63:32]} + {1'b0, qty};
    qty_overflow = found && sum_qty[32];

    worst_px = worst_lvl[31:0];
    better_than_worst = better(is_bid, price, worst_px);
    bound = side_in[BOUND_LSB +: 32];
    better_than_bound = better(is_bid, price, bound);
    worst_better_than_bound = better(is_bid, worst_px, bound);
end

// Separate block: qty_overflow feeds the caller's enable and must not depend on it.
always @* begin
    j = 0;
    side_out = side_in;
    to_beyond = 1'b0;
    evicted = 1'b0;
    if (enable) begin
        if (found) begin
            for (j = 0; j < LEVELS; j = j + 1) begin
                if (hit[j]) begin
                    side_out[j*LVL_W +: LVL_W] =
                        {hit_lvl[64 +: CNT_W] + 1'b1, sum_qty[31:0], price};
                end
            end
        end else if ((n_held == FULL && !better_than_worst) ||
                     (beyond != 0 && !better_than_bound)) begin
            // No better than the worst held level of a full array, or than the best price
            // already beyond: holding it would break "every held level is strictly better
            // than bound". bound keeps the best price beyond.
            to_beyond = 1'b1;
            side_out[LVLS_W + NH_W +: CNT_W] = beyond + 1'b1;
            if (beyond == 0 || better_than_bound) begin
                side_out[BOUND_LSB +: 32] = price;
            end
        end else begin
            for (j = 0; j < LEVELS; j = j + 1) begin
                if (j == {{32-NH_W{1'b0}}, pos}) begin
                    side_out[j*LVL_W +: LVL_W] = {{CNT_W-1{1'b0}}, 1'b1, qty, price};
                end else if (j > {{32-NH_W{1'b0}}, pos}) begin
                    side_out[j*LVL_W +: LVL_W] = lvls_dn[j*LVL_W +: LVL_W];
                end
            end
            if (n_held == FULL) begin
                // The worst held level is pushed out; its orders now lie beyond.
                evicted = 1'b1;
                side_out[LVLS_W + NH_W +: CNT_W] = beyond + worst_lvl[64 +: CNT_W];
                if (beyond == 0 || worst_better_than_bound) begin
                    side_out[BOUND_LSB +: 32] = worst_px;
                end
            end else begin
                side_out[LVLS_W +: NH_W] = n_held + 1'b1;
            end
        end
    end
end

endmodule

`resetall
