// Small FIFO for the book core's queues (input messages, message descriptors, records) and the
// framer's output queue: memory read asynchronously (LUT RAM on ECP5) into a registered
// output, so the consumer sees a register. A word pushed into an empty FIFO whose output is
// free goes straight to the output register (one cycle, not two).
//
// The caller checks `count` (words in the memory, the output register not included) before
// pushing: a push into a full memory is lost. Capacity: 2**ADDR_WIDTH + 1 words.
`resetall
`timescale 1ns / 1ps
`default_nettype none

module vx_book_fifo #(
    parameter WIDTH = 32,
    parameter ADDR_WIDTH = 4
) (
    input  wire                  clk,
    input  wire                  rst,

    input  wire [WIDTH-1:0]      in_data,
    input  wire                  in_valid,

    output wire [WIDTH-1:0]      out_data,
    output wire                  out_valid,
    input  wire                  out_pop,

    output wire [ADDR_WIDTH:0]   count
);

reg [WIDTH-1:0] mem [0:(1 << ADDR_WIDTH)-1];
reg [ADDR_WIDTH-1:0] wr_ptr_reg;
reg [ADDR_WIDTH-1:0] rd_ptr_reg;
reg [ADDR_WIDTH:0] count_reg;
// The memory holds a word: its own register rather than a decode of count_reg, so the pop's
// path to the pointers does not share logic with a caller's room check on `count`. Zero is
// empty, as for count_reg, so a FIFO clocked before its first reset emits nothing.
reg filled_reg;
reg one_reg;   // the memory holds one word
reg [WIDTH-1:0] out_data_reg;
reg out_valid_reg;

assign out_data = out_data_reg;
assign out_valid = out_valid_reg;
assign count = count_reg;

wire mem_empty = !filled_reg;
wire [ADDR_WIDTH:0] count_inc = count_reg + 1'b1;
wire [ADDR_WIDTH:0] count_dec = count_reg - 1'b1;
wire out_free = !out_valid_reg || out_pop;
wire mem_rd = out_free && !mem_empty;
wire mem_wr = in_valid && !(out_free && mem_empty);

always @(posedge clk) begin
    // The memory write does not wait for the pop decision (which comes from the consumer,
    // late in the cycle): writing the slot past the last word is harmless when the word
    // goes straight to the output register instead, since the pointer does not move.
    if (in_valid) begin
        mem[wr_ptr_reg] <= in_data;
    end
    if (mem_wr) begin
        wr_ptr_reg <= wr_ptr_reg + 1'b1;
    end
    if (out_free) begin
        if (!mem_empty) begin
            out_data_reg <= mem[rd_ptr_reg];
            rd_ptr_reg <= rd_ptr_reg + 1'b1;
        end else begin
            out_data_reg <= in_data;
        end
        out_valid_reg <= !mem_empty || in_valid;
    end
    // count + 1 and count - 1 come from the register alone; the pop (late) only selects.
    if (mem_wr && !mem_rd) begin
        count_reg <= count_inc;
        filled_reg <= 1'b1;
        one_reg <= !filled_reg;
    end else if (mem_rd && !mem_wr) begin
        count_reg <= count_dec;
        filled_reg <= !one_reg;
        one_reg <= count_reg == 2;
    end

    if (rst) begin
        wr_ptr_reg <= 0;
        rd_ptr_reg <= 0;
        count_reg <= 0;
        filled_reg <= 1'b0;
        one_reg <= 1'b0;
        out_valid_reg <= 1'b0;
    end
end

endmodule

`resetall
