// AXI-Stream register slice: a full-throughput skid buffer that registers every forward
// signal and tready, so it can cut a timing path in the middle of a stream without a bubble.
`resetall
`timescale 1ns / 1ps
`default_nettype none

module vx_axis_register #(
    parameter DATA_WIDTH = 64,
    parameter KEEP_ENABLE = (DATA_WIDTH > 8),
    parameter KEEP_WIDTH = (DATA_WIDTH + 7) / 8,
    parameter USER_WIDTH = 1
) (
    input  wire                  clk,
    input  wire                  rst,

    input  wire [DATA_WIDTH-1:0] s_axis_tdata,
    input  wire [KEEP_WIDTH-1:0] s_axis_tkeep,
    input  wire                  s_axis_tvalid,
    output wire                  s_axis_tready,
    input  wire                  s_axis_tlast,
    input  wire [USER_WIDTH-1:0] s_axis_tuser,

    output wire [DATA_WIDTH-1:0] m_axis_tdata,
    output wire [KEEP_WIDTH-1:0] m_axis_tkeep,
    output wire                  m_axis_tvalid,
    input  wire                  m_axis_tready,
    output wire                  m_axis_tlast,
    output wire [USER_WIDTH-1:0] m_axis_tuser
);

localparam BEAT_WIDTH = DATA_WIDTH + KEEP_WIDTH + 1 + USER_WIDTH;

wire [KEEP_WIDTH-1:0] s_keep = KEEP_ENABLE ? s_axis_tkeep : {KEEP_WIDTH{1'b1}};
wire [BEAT_WIDTH-1:0] s_beat = {s_axis_tuser, s_axis_tlast, s_keep, s_axis_tdata};

reg [BEAT_WIDTH-1:0] out_reg, out_next;
reg [BEAT_WIDTH-1:0] skid_reg, skid_next;
reg out_valid_reg, out_valid_next;
reg skid_valid_reg, skid_valid_next;
// tready is registered: it can only depend on whether the skid slot is free, and the slot
// absorbs the one beat the source may still send in the cycle after the sink stalls.
reg s_ready_reg, s_ready_next;

assign s_axis_tready = s_ready_reg;
assign {m_axis_tuser, m_axis_tlast, m_axis_tkeep, m_axis_tdata} = out_reg;
assign m_axis_tvalid = out_valid_reg;

always @* begin
    out_next = out_reg;
    skid_next = skid_reg;
    out_valid_next = out_valid_reg;
    skid_valid_next = skid_valid_reg;

    if (m_axis_tready || !out_valid_reg) begin
        // Output slot drains (or is empty): refill from skid first to keep order.
        if (skid_valid_reg) begin
            out_next = skid_reg;
            out_valid_next = 1'b1;
            skid_valid_next = 1'b0;
            if (s_axis_tvalid && s_ready_reg) begin
                skid_next = s_beat;
                skid_valid_next = 1'b1;
            end
        end else begin
            out_next = s_beat;
            out_valid_next = s_axis_tvalid && s_ready_reg;
        end
    end else if (s_axis_tvalid && s_ready_reg) begin
        skid_next = s_beat;
        skid_valid_next = 1'b1;
    end

    s_ready_next = !skid_valid_next;
end

always @(posedge clk) begin
    out_reg <= out_next;
    skid_reg <= skid_next;
    out_valid_reg <= out_valid_next;
    skid_valid_reg <= skid_valid_next;
    s_ready_reg <= s_ready_next;

    if (rst) begin
        out_valid_reg <= 1'b0;
        skid_valid_reg <= 1'b0;
        s_ready_reg <= 1'b0;
    end
end

endmodule

`resetall
