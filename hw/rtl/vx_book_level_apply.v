// Level stage 2 of 2 (L3): apply one micro-op to one side of an instrument's level word from
// the registered results of vx_book_level_cmp (docs/book-engine.md: Insert step 4 with the
// beyond rule, Remove, and the level part of E/C/X). Combinational.
//
// Held prices are unique and sorted best first, so `better` is a thermometer: the insert
// slot is the first level not better than the price, a removed level's successors are the
// levels not better than its price, and every slot picks its new value with one-hot selects
// (no priority chain across levels). Side word layout: see vx_book_level_cmp.
`resetall
`timescale 1ns / 1ps
`default_nettype none

module vx_book_level_apply #(
    parameter LEVELS = 16,
    parameter CNT_W = 19,
    parameter NH_W = $clog2(LEVELS + 1),
    parameter LVL_W = 64 + CNT_W,
    parameter SIDE_W = LEVELS * LVL_W + NH_W + CNT_W + 32,
    parameter GROUPS = (LEVELS + 3) / 4
) (
    // add: `add_ready` = the order may be stored (set not full, instrument tracked or a U)
    input  wire                    op_add,
    input  wire                    add_ready,
    // take shares off: `remove_order` = the order leaves (its count goes), else a reduce
    input  wire                    op_sub,
    input  wire                    remove_order,
    input  wire [31:0]             price,
    input  wire [31:0]             qty,
    input  wire [SIDE_W-1:0]       side_in,

    // registered outputs of vx_book_level_cmp for side_in, price and qty
    input  wire [LEVELS-1:0]       eq,
    input  wire [LEVELS-1:0]       better,
    input  wire [GROUPS-1:0]       found_group,
    input  wire [GROUPS-1:0]       last_order,
    input  wire [LEVELS*LVL_W-1:0] changed,
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

    output reg  [SIDE_W-1:0]       side_out,
    // a held level at `price` would pass 2**32 - 1 (independent of add_ready)
    output reg                     qty_overflow,
    // the add was stored (in a level or beyond)
    output reg                     added,
    output reg                     added_beyond,
    output reg                     evicted
);

localparam LVLS_W = LEVELS * LVL_W;
localparam BOUND_LSB = LVLS_W + NH_W + CNT_W;

integer i;
reg found;
reg emptied;
reg to_beyond;
reg add_new;
reg sub_beyond;
reg ins_here;
reg better_prev;
reg sel_chg, sel_up, sel_new, sel_dn, sel_cur;
reg [LVL_W-1:0] cur;
reg [LVL_W-1:0] up;
reg [LVL_W-1:0] dn;
reg [LVL_W-1:0] new_level;

always @* begin
    qty_overflow = |(eq & qty_carry);
    found = |found_group;
    // the order's level loses its last order
    emptied = remove_order && |last_order;
    to_beyond = beyond_by_worst || beyond_by_bound;
    added = op_add && add_ready && !qty_overflow;
    // Not found implies no overflow, so these need not wait for it.
    added_beyond = op_add && add_ready && !found && to_beyond;
    add_new = op_add && add_ready && !found && !to_beyond;
    evicted = add_new && full;
    sub_beyond = op_sub && !found && remove_order;
    new_level = {{CNT_W-1{1'b0}}, 1'b1, qty, price};

    // Every slot picks one of five values with one-hot selects; only a level's own `stays`
    // decides whether it changes in place, so that select needs no reduction across levels.
    side_out = side_in;
    for (i = 0; i < LEVELS; i = i + 1) begin
        cur = side_in[i*LVL_W +: LVL_W];
        up = (i + 1 < LEVELS) ? side_in[(i+1)*LVL_W +: LVL_W] : {LVL_W{1'b0}};
        dn = (i > 0) ? side_in[(i-1)*LVL_W +: LVL_W] : {LVL_W{1'b0}};
        better_prev = (i > 0) ? better[i-1] : 1'b1;
        ins_here = better_prev && !better[i];
        sel_chg = eq[i] && stays[i] && (op_add ? add_ready : op_sub);
        // The level's last order left: it and the levels below move up one slot.
        sel_up = op_sub && emptied && !better[i];
        sel_new = add_new && ins_here;
        sel_dn = add_new && !better[i] && !ins_here;
        sel_cur = !(sel_chg || sel_up || sel_new || sel_dn);
        side_out[i*LVL_W +: LVL_W] = (cur & {LVL_W{sel_cur}}) |
            (changed[i*LVL_W +: LVL_W] & {LVL_W{sel_chg}}) | (up & {LVL_W{sel_up}}) |
            (new_level & {LVL_W{sel_new}}) | (dn & {LVL_W{sel_dn}});
    end

    if (op_sub && emptied) begin
        side_out[LVLS_W +: NH_W] = n_held_dec;
    end
    if (add_new && !full) begin
        side_out[LVLS_W +: NH_W] = n_held_inc;
    end
    if (sub_beyond) begin
        // Not in a held level: the order was one of those beyond them.
        side_out[LVLS_W + NH_W +: CNT_W] = beyond_dec;
    end
    if (added_beyond) begin
        side_out[LVLS_W + NH_W +: CNT_W] = beyond_inc;
        if (price_sets_bound) begin
            side_out[BOUND_LSB +: 32] = price;
        end
    end
    if (evicted) begin
        // The worst held level is pushed out; its orders now lie beyond.
        side_out[LVLS_W + NH_W +: CNT_W] = beyond_evict;
        if (worst_sets_bound) begin
            side_out[BOUND_LSB +: 32] = side_in[(LEVELS-1)*LVL_W +: 32];
        end
    end
end

endmodule

`resetall
