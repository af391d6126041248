// Simple dual-port RAM for the book tables: one write port, one read port with a registered
// read and a read enable, so it maps to block RAM (ECP5 DP16KD) and a stalled pipeline keeps
// its read data. OUT_REG = 1 adds the block RAM's output register (always enabled): read data
// then appears two cycles after the address instead of one, and the RAM's slow clock-to-output
// ends inside the block (vx_ecp5_dp16kd explains why that matters on ECP5).
//
// A read of the address written on the same edge is undefined in block RAM (the model here
// returns the old word). vx_book_engine never uses such a word: it never reads an order set
// that an in-flight message still writes (scoreboard), and a level word read on the edge
// that writes it is replaced by the written word it keeps (bypass). So the memory is marked
// no_rw_check: without it Yosys adds collision logic around every DP16KD (per level RAM at
// SYNTH_CAPACITY: 1,338 flip-flops and 677 LUTs in the read path).
//
// With VX_ECP5_DP16KD defined (`make synth`), an OUT_REG RAM of at most 1024 words is built
// from vx_ecp5_dp16kd tiles, since Yosys does not put a register after an inferred RAM into
// the DP16KD's output register; everything else is the behavioural model below, which is
// what simulation runs.
`resetall
`timescale 1ns / 1ps
`default_nettype none

module vx_book_ram #(
    parameter WIDTH = 32,
    parameter ADDR_WIDTH = 8,
    parameter OUT_REG = 0
) (
    input  wire                  clk,

    input  wire                  wr_en,
    input  wire [ADDR_WIDTH-1:0] wr_addr,
    input  wire [WIDTH-1:0]      wr_data,

    input  wire                  rd_en,
    input  wire [ADDR_WIDTH-1:0] rd_addr,
    output wire [WIDTH-1:0]      rd_data
);

generate
`ifdef VX_ECP5_DP16KD
    if (OUT_REG && ADDR_WIDTH <= 10) begin : ecp5
        localparam DW = ADDR_WIDTH <= 9 ? 36 : 18;
        localparam TILES = (WIDTH + DW - 1) / DW;
        wire [TILES*DW-1:0] wd = {{TILES*DW-WIDTH{1'b0}}, wr_data};
        wire [TILES*DW-1:0] rd;
        genvar t;
        for (t = 0; t < TILES; t = t + 1) begin : tile
            vx_ecp5_dp16kd #(.ADDR_WIDTH(ADDR_WIDTH)) ram (
                .clk(clk), .wr_en(wr_en), .wr_addr(wr_addr), .wr_data(wd[t*DW +: DW]),
                .rd_en(rd_en), .rd_addr(rd_addr), .rd_data(rd[t*DW +: DW])
            );
        end
        assign rd_data = rd[WIDTH-1:0];
    end else
`endif
    begin : model
        (* no_rw_check *)
        reg [WIDTH-1:0] mem [0:(1 << ADDR_WIDTH)-1];
        reg [WIDTH-1:0] rd_data_reg;

        always @(posedge clk) begin
            if (wr_en) begin
                mem[wr_addr] <= wr_data;
            end
            if (rd_en) begin
                rd_data_reg <= mem[rd_addr];
            end
        end

        if (OUT_REG) begin : with_out_reg
            reg [WIDTH-1:0] out_reg;  // the DP16KD output register
            always @(posedge clk) begin
                out_reg <= rd_data_reg;
            end
            assign rd_data = out_reg;
        end else begin : no_out_reg
            assign rd_data = rd_data_reg;
        end
    end
endgenerate

endmodule

`resetall
