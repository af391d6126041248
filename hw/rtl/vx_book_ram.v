// Simple dual-port RAM for the book tables: one write port, one read port with a registered
// read and a read enable, so Yosys maps it to block RAM (ECP5 DP16KD) and a stalled
// pipeline keeps its read data. A read of the address written on the same edge returns the
// old word; vx_book_engine forwards same-edge writes itself.
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
