// Simple dual-port RAM for the book tables: one write port, one read port with a registered
// read and a read enable, so Yosys maps it to block RAM (ECP5 DP16KD) and a stalled
// pipeline keeps its read data.
//
// A read of the address written on the same edge is undefined in block RAM (the model here
// returns the old word). vx_book_engine never uses such a word: it never reads an order set
// that an in-flight message still writes (scoreboard), and a level word read on the edge
// that writes it is replaced by the written word it keeps (bypass). So the memory is marked
// no_rw_check: without it Yosys adds collision logic around every DP16KD (per level RAM at
// SYNTH_CAPACITY: 1,338 flip-flops and 677 LUTs in the read path).
`resetall
`timescale 1ns / 1ps
`default_nettype none

module vx_book_ram #(
    parameter WIDTH = 32,
    parameter ADDR_WIDTH = 8
) (
    input  wire                  clk,

    input  wire                  wr_en,
    input  wire [ADDR_WIDTH-1:0] wr_addr,
    input  wire [WIDTH-1:0]      wr_data,

    input  wire                  rd_en,
    input  wire [ADDR_WIDTH-1:0] rd_addr,
    output wire [WIDTH-1:0]      rd_data
);

(* no_rw_check *)
reg [WIDTH-1:0] mem [0:(1 << ADDR_WIDTH)-1];
reg [WIDTH-1:0] rd_data_reg;

assign rd_data = rd_data_reg;

always @(posedge clk) begin
    if (wr_en) begin
        mem[wr_addr] <= wr_data;
    end
    if (rd_en) begin
        rd_data_reg <= mem[rd_addr];
    end
end

endmodule

`resetall
