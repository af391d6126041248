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
reg ins_here;
reg better_prev;
reg nf_add, nf_beyond, nf_new, nf_evict, nf_sub;
reg [NH_W-1:0] n_held, nh_found, nh_not_found;
reg [CNT_W-1:0] beyond, beyond_not_found;
reg [31:0] bound, bound_not_found;

always @* begin
    n_held = tail_in[0 +: NH_W];
    beyond = tail_in[NH_W +: CNT_W];
    bound = tail_in[NH_W + CNT_W +: 32];
    qty_overflow = |(eq & qty_carry);
    // The two reductions across levels arrive last; everything else is decided for both
    // outcomes first and `found` picks (a held level at the price, else not).
    found = |eq;
    // the order's level loses its last order (implies found)
    emptied = op_sub && remove_order && |eq_last;
    to_beyond = beyond_by_worst || beyond_by_bound;
    // what an add or a removal does when no held level has the price
    nf_add = op_add && add_ready;
    nf_beyond = nf_add && to_beyond;
    nf_new = nf_add && !to_beyond;
    nf_evict = nf_new && full;
    // not in a held level: the order was one of those beyond them
    nf_sub = op_sub && remove_order;
    nh_not_found = (nf_new && !full) ? n_held_inc : n_held;
    // The worst held level pushed out: its orders now lie beyond.
    beyond_not_found = nf_sub ? beyond_dec : nf_beyond ? beyond_inc :
        nf_evict ? beyond_evict : beyond;
    bound_not_found = (nf_beyond && price_sets_bound) ? price :
        (nf_evict && worst_sets_bound) ? worst_px : bound;
    nh_found = emptied ? n_held_dec : n_held;
    tail_out = found ? {bound, beyond, nh_found} :
        {bound_not_found, beyond_not_found, nh_not_found};

    added = nf_add && !qty_overflow;
    // Not found implies no overflow, so these need not wait for it.
    added_beyond = nf_beyond && !found;
    add_new = nf_new && !found;
    evicted = nf_evict && !found;

    // Only a level's own `stays` decides whether it changes in place, so that select needs no
    // reduction across levels.
    for (i = 0; i < LEVELS; i = i + 1) begin
        better_prev = (i > 0) ? better[i-1] : 1'b1;
        ins_here = better_prev && !better[i];
        sel_chg[i] = eq[i] && stays[i] && (op_add ? add_ready : op_sub);
        // The level's last order left: it and the levels below move up one slot.
        sel_up[i] = emptied && !better[i];
        sel_new[i] = add_new && ins_here;
        sel_dn[i] = add_new && !better[i] && !ins_here;
        sel_cur[i] = !(sel_chg[i] || sel_up[i] || sel_new[i] || sel_dn[i]);
    end
end

endmodule

`resetall
