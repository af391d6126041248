// Level stage 1 of 3 (L2): compare one side of an instrument's level word with a micro-op's
// price and quantity, every held level in parallel, and precompute every sum and difference
// the apply stage (vx_book_level_apply) may pick. Combinational; the core registers the
// outputs. Nothing here chains one level's result into another's: the reductions across
// levels are the select stage's (vx_book_level_select).
//
// Side word layout (shared with the select and apply stages and vx_book_engine),
// LVL_W = 64 + CNT_W:
//   level i at [i*LVL_W +: LVL_W] = {count[CNT_W], qty[32], price[32]}, best first
//   n_held  at [LEVELS*LVL_W +: NH_W]
//   beyond  at [LEVELS*LVL_W + NH_W +: CNT_W]
//   bound   at [LEVELS*LVL_W + NH_W + CNT_W +: 32] (best price beyond; valid while beyond > 0)
// Slots at and past n_held are kept zero so equal books have equal words, and a zero slot
// never equals a live order's price (zero-price adds are rejected).
`resetall
`timescale 1ns / 1ps
`default_nettype none

module vx_book_level_cmp #(
    parameter LEVELS = 16,
    parameter CNT_W = 19,
    parameter NH_W = $clog2(LEVELS + 1),
    parameter LVL_W = 64 + CNT_W,
    parameter SIDE_W = LEVELS * LVL_W + NH_W + CNT_W + 32
) (
    input  wire                    is_bid,
    // the micro-op adds (else it takes shares off); taking off, whether the order leaves
    input  wire                    op_add,
    input  wire                    remove_order,
    input  wire [SIDE_W-1:0]       side_in,
    input  wire [31:0]             price,
    input  wire [31:0]             qty,

    // per level: price equal; strictly better than `price` (held levels only)
    output reg  [LEVELS-1:0]       eq,
    output reg  [LEVELS-1:0]       better,
    // per level: price equal and the level has one order
    output reg  [LEVELS-1:0]       eq_last,
    // per level: the level as the micro-op would leave it if its price is equal (add: count
    // + 1, qty + `qty`; take off: qty - `qty`, count - 1 when the order leaves), and whether
    // it stays (add: qty does not pass 2**32 - 1; take off: not its last order leaving)
    output reg  [LEVELS*LVL_W-1:0] changed,
    output reg  [LEVELS-1:0]       stays,
    // per level: qty + `qty` carries
    output reg  [LEVELS-1:0]       qty_carry,
    // an add goes beyond (docs/book-engine.md, Insert) when either holds: the array is full
    // and `price` is no better than its worst level; orders lie beyond and `price` is no
    // better than `bound`
    output reg                     beyond_by_worst,
    output reg                     beyond_by_bound,
    // a full array's worst level is better than bound (or nothing is beyond): it becomes bound
    output reg                     worst_sets_bound,
    // nothing beyond yet, or `price` better than bound: an add going beyond becomes bound
    output reg                     price_sets_bound,
    output reg                     full,
    output reg  [CNT_W-1:0]        beyond_inc,
    output reg  [CNT_W-1:0]        beyond_dec,
    output reg  [CNT_W-1:0]        beyond_evict,
    output reg  [NH_W-1:0]         n_held_inc,
    output reg  [NH_W-1:0]         n_held_dec
);

localparam LVLS_W = LEVELS * LVL_W;
localparam BOUND_LSB = LVLS_W + NH_W + CNT_W;
/* verilator lint_off WIDTHTRUNC */
localparam [NH_W-1:0] FULL = LEVELS;
/* verilator lint_on WIDTHTRUNC */

// Prices are compared as keys: a price XOR all ones on the ask side, so "better" is "greater"
// on both sides and each compare is one carry chain with nothing after it. (Written as
// `bid ? a > b : a < b`, Yosys merges the two compares into one subtraction and derives
// "greater" from "not less and not equal", putting the 32-bit equality tree in front of the
// chain's last cell: the slowest path of the whole top.)
function automatic [31:0] px_key(input bid, input [31:0] px);
    px_key = px ^ {32{!bid}};
endfunction

/* verilator lint_off UNUSEDSIGNAL */
function automatic key_gt(input [31:0] a, input [31:0] b);
    // a > b, unsigned: the borrow of b - a, so that no compare shares the subtraction
    reg [32:0] diff;
    diff = {1'b0, b} - {1'b0, a};
    key_gt = diff[32];
endfunction
/* verilator lint_on UNUSEDSIGNAL */

integer i;
reg [NH_W-1:0] n_held;
reg [CNT_W-1:0] beyond;
reg [31:0] bound;
reg [31:0] px_i;
reg [31:0] q_i;
reg [CNT_W-1:0] c_i;
reg cnt_one;
reg [32:0] s_i;
reg [31:0] d_i;
reg [CNT_W-1:0] c_new;
reg [31:0] worst_px;
reg [CNT_W-1:0] worst_cnt;
reg [31:0] price_k, worst_k, bound_k;

always @* begin
    n_held = side_in[LVLS_W +: NH_W];
    beyond = side_in[LVLS_W + NH_W +: CNT_W];
    bound = side_in[BOUND_LSB +: 32];
    // Only a full array evicts or compares with its worst level, and then the worst level is
    // the last slot: no select by n_held.
    worst_px = side_in[(LEVELS-1)*LVL_W +: 32];
    worst_cnt = side_in[(LEVELS-1)*LVL_W + 64 +: CNT_W];
    price_k = px_key(is_bid, price);
    worst_k = px_key(is_bid, worst_px);
    bound_k = px_key(is_bid, bound);
    for (i = 0; i < LEVELS; i = i + 1) begin
        px_i = side_in[i*LVL_W +: 32];
        q_i = side_in[i*LVL_W + 32 +: 32];
        c_i = side_in[i*LVL_W + 64 +: CNT_W];
        eq[i] = px_i == price;
        better[i] = (i < n_held) && key_gt(px_key(is_bid, px_i), price_k);
        s_i = {1'b0, q_i} + {1'b0, qty};
        d_i = q_i - qty;
        qty_carry[i] = s_i[32];
        cnt_one = c_i == 1;
        eq_last[i] = eq[i] && cnt_one;
        if (op_add) begin
            c_new = c_i + 1'b1;
        end else if (remove_order) begin
            c_new = c_i - 1'b1;
        end else begin
            c_new = c_i;
        end
        changed[i*LVL_W +: LVL_W] = {c_new, op_add ? s_i[31:0] : d_i, px_i};
        stays[i] = op_add ? !s_i[32] : !(remove_order && cnt_one);
    end
    full = n_held == FULL;
    beyond_by_worst = full && !key_gt(price_k, worst_k);
    beyond_by_bound = beyond != 0 && !key_gt(price_k, bound_k);
    worst_sets_bound = beyond == 0 || key_gt(worst_k, bound_k);
    price_sets_bound = beyond == 0 || key_gt(price_k, bound_k);
    beyond_inc = beyond + 1'b1;
    beyond_dec = beyond - 1'b1;
    beyond_evict = beyond + worst_cnt;
    n_held_inc = n_held + 1'b1;
    n_held_dec = n_held - 1'b1;
end

endmodule

`resetall
