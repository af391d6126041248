// Level stage 2 of 3 (L2X): from the registered compare results of vx_book_level_cmp, decide
// what one micro-op does to one side of an instrument's level word (docs/book-engine.md:
// Insert step 4 with the beyond rule, Remove, and the level part of E/C/X): which of five
// values every held slot takes, the new tail (n_held, beyond, bound) and the outcome flags.
// Combinational; the core registers the outputs, so the apply stage (vx_book_level_apply) is
// one-hot selects from registers and nothing else.
//
// Held prices are unique and sorted best first, so `better` is a thermometer: the insert
// slot is the first level not better than the price, a removed level's successors are the
// levels not better than its price, and every slot's choice needs no priority chain across
// levels. Side word layout: see vx_book_level_cmp.
`resetall
`timescale 1ns / 1ps
`default_nettype none

module vx_book_level_select #(
    parameter LEVELS = 16,
    parameter CNT_W = 19,
    parameter NH_W = $clog2(LEVELS + 1),
    parameter TAIL_W = NH_W + CNT_W + 32
) (
    // add: `add_ready` = the order may be stored (set not full, instrument tracked or a U)
    input  wire                    op_add,
    input  wire                    add_ready,
    // take shares off: `remove_order` = the order leaves (its count goes), else a reduce
    input  wire                    op_sub,
    input  wire                    remove_order,
    input  wire [31:0]             price,
    // the side word's tail {bound, beyond, n_held} and its last slot's price
    input  wire [TAIL_W-1:0]       tail_in,
    input  wire [31:0]             worst_px,

    // registered outputs of vx_book_level_cmp for the side word, price and qty
    input  wire [LEVELS-1:0]       eq,
    input  wire [LEVELS-1:0]       better,
    input  wire [LEVELS-1:0]       eq_last,
    input  wire [LEVELS-1:0]       stays,
    input  wire [LEVELS-1:0]       qty_carry,
    input  wire                    beyond_by_worst,
    input  wire                    beyond_by_bound,
    input  wire                    worst_sets_bound,
    input  wire                    price_sets_bound,
    input  wire                    full,
    input  wire [CNT_W-1:0]        beyond_inc,
    input  wire [CNT_W-1:0]        beyond_dec,
    input  wire [CNT_W-1:0]        beyond_evict,
    input  wire [NH_W-1:0]         n_held_inc,
    input  wire [NH_W-1:0]         n_held_dec,

    // per slot, one-hot (all zero never happens here; the core zeroes them for the sweep):
    // unchanged, its changed value, the slot below it (moves up), the new level, the slot
    // above it (moves down)
    output reg  [LEVELS-1:0]       sel_cur,
    output reg  [LEVELS-1:0]       sel_chg,
    output reg  [LEVELS-1:0]       sel_up,
    output reg  [LEVELS-1:0]       sel_new,
    output reg  [LEVELS-1:0]       sel_dn,
    output reg  [TAIL_W-1:0]       tail_out,
    // a held level at `price` would pass 2**32 - 1 (independent of add_ready)
    output reg                     qty_overflow,
    // the add was stored (in a level or beyond)
    output reg                     added,
    output reg                     added_beyond,
    output reg                     evicted
);

integer i;
reg found;
reg emptied;
reg to_beyond;
reg add_new;
reg sub_beyond;
reg ins_here;
reg better_prev;

always @* begin
    qty_overflow = |(eq & qty_carry);
    found = |eq;
    // the order's level loses its last order
    emptied = remove_order && |eq_last;
    to_beyond = beyond_by_worst || beyond_by_bound;
    added = op_add && add_ready && !qty_overflow;
    // Not found implies no overflow, so these need not wait for it.
    added_beyond = op_add && add_ready && !found && to_beyond;
    add_new = op_add && add_ready && !found && !to_beyond;
    evicted = add_new && full;
    sub_beyond = op_sub && !found && remove_order;

    // Only a level's own `stays` decides whether it changes in place, so that select needs no
    // reduction across levels.
    for (i = 0; i < LEVELS; i = i + 1) begin
        better_prev = (i > 0) ? better[i-1] : 1'b1;
        ins_here = better_prev && !better[i];
        sel_chg[i] = eq[i] && stays[i] && (op_add ? add_ready : op_sub);
        // The level's last order left: it and the levels below move up one slot.
        sel_up[i] = op_sub && emptied && !better[i];
        sel_new[i] = add_new && ins_here;
        sel_dn[i] = add_new && !better[i] && !ins_here;
        sel_cur[i] = !(sel_chg[i] || sel_up[i] || sel_new[i] || sel_dn[i]);
    end

    tail_out = tail_in;
    if (op_sub && emptied) begin
        tail_out[0 +: NH_W] = n_held_dec;
    end
    if (add_new && !full) begin
        tail_out[0 +: NH_W] = n_held_inc;
    end
    if (sub_beyond) begin
        // Not in a held level: the order was one of those beyond them.
        tail_out[NH_W +: CNT_W] = beyond_dec;
    end
    if (added_beyond) begin
        tail_out[NH_W +: CNT_W] = beyond_inc;
        if (price_sets_bound) begin
            tail_out[NH_W + CNT_W +: 32] = price;
        end
    end
    if (evicted) begin
        // The worst held level is pushed out; its orders now lie beyond.
        tail_out[NH_W +: CNT_W] = beyond_evict;
        if (worst_sets_bound) begin
            tail_out[NH_W + CNT_W +: 32] = worst_px;
        end
    end
end

endmodule

`resetall
