// Feed handler top level: UDP payloads (MoldUDP64) or BinaryFILE bytes in on a 64-bit
// AXI-Stream, top-of-book records out on a 320-bit AXI-Stream, AXI-Lite for control and
// counters.
//
//   s_axis --> vx_mold_framer --> vx_book_engine --> m_axis (records)
//                   ^                   ^
//                   +--- vx_axil_regs --+  (enable, mode, soft reset, subscriptions, counters)
`resetall
`timescale 1ns / 1ps
`default_nettype none

`include "vx_params.vh"

module vx_feed_top #(
    parameter LOCATE_BITS = `VX_DEFAULT_LOCATE_BITS,
    parameter LEVELS = `VX_DEFAULT_LEVELS,
    parameter ORDER_SET_BITS = `VX_DEFAULT_ORDER_SET_BITS,
    parameter ORDER_WAYS = `VX_DEFAULT_ORDER_WAYS,
    parameter SUB_SYMBOLS = `VX_DEFAULT_SUB_SYMBOLS,
    parameter AXIL_ADDR_WIDTH = 12,
    parameter NUM_COUNTERS = `VX_NUM_COUNTERS,
    parameter NUM_FRAMER_STATS = 10,
    parameter SUB_ADDR_WIDTH = (SUB_SYMBOLS > 1) ? $clog2(SUB_SYMBOLS) : 1,
    parameter SUB_COUNT_WIDTH = $clog2(SUB_SYMBOLS + 1)
) (
    input  wire                       clk,
    input  wire                       rst,

    input  wire [63:0]                s_axis_tdata,
    input  wire [7:0]                 s_axis_tkeep,
    input  wire                       s_axis_tvalid,
    output wire                       s_axis_tready,
    input  wire                       s_axis_tlast,

    output wire [319:0]               m_axis_tdata,
    output wire [39:0]                m_axis_tkeep,
    output wire                       m_axis_tvalid,
    input  wire                       m_axis_tready,
    output wire                       m_axis_tlast,

    input  wire [AXIL_ADDR_WIDTH-1:0] s_axil_awaddr,
    input  wire [2:0]                 s_axil_awprot,
    input  wire                       s_axil_awvalid,
    output wire                       s_axil_awready,
    input  wire [31:0]                s_axil_wdata,
    input  wire [3:0]                 s_axil_wstrb,
    input  wire                       s_axil_wvalid,
    output wire                       s_axil_wready,
    output wire [1:0]                 s_axil_bresp,
    output wire                       s_axil_bvalid,
    input  wire                       s_axil_bready,
    input  wire [AXIL_ADDR_WIDTH-1:0] s_axil_araddr,
    input  wire [2:0]                 s_axil_arprot,
    input  wire                       s_axil_arvalid,
    output wire                       s_axil_arready,
    output wire [31:0]                s_axil_rdata,
    output wire [1:0]                 s_axil_rresp,
    output wire                       s_axil_rvalid,
    input  wire                       s_axil_rready
);

localparam FRAMER_STAT_WIDTH = 32;

wire                       cfg_enable;
wire                       cfg_file_mode;
wire                       cfg_soft_reset;
wire [SUB_COUNT_WIDTH-1:0] cfg_sub_count;
wire                       cfg_sub_wr_en;
wire [SUB_ADDR_WIDTH-1:0]  cfg_sub_wr_addr;
wire [63:0]                cfg_sub_wr_symbol;

// The soft reset restarts the datapath only; the register block keeps its settings.
reg datapath_rst_reg;

always @(posedge clk) begin
    datapath_rst_reg <= rst || cfg_soft_reset;
end

// Input is taken only once the book's tables are cleared: the framer's output queue would
// otherwise fill during the sweep and only then hold the input, so a sender could not tell
// from tready when the feed handler is ready.
wire book_busy;
reg  book_ready_reg;
wire framer_tready;

always @(posedge clk) begin
    book_ready_reg <= !book_busy;
    if (datapath_rst_reg) begin
        book_ready_reg <= 1'b0;
    end
end

assign s_axis_tready = framer_tready && book_ready_reg;

// Framer to book. The framer's output queue drives these from registers and takes the
// book's registered tready only into its own output register and read pointer, so no path
// runs from one block's logic into the other's.
wire [319:0] bk_tdata;
wire [39:0]  bk_tkeep;
wire         bk_tvalid;
wire         bk_tready;
wire         bk_tlast;
wire [80:0]  bk_tuser;

wire [63:0]                  framer_seq_gaps;
wire [63:0]                  framer_seq_duplicates;
wire [FRAMER_STAT_WIDTH-1:0] framer_packets;
wire [FRAMER_STAT_WIDTH-1:0] framer_heartbeats;
wire [FRAMER_STAT_WIDTH-1:0] framer_end_of_session;
wire [FRAMER_STAT_WIDTH-1:0] framer_wrong_session;
wire [FRAMER_STAT_WIDTH-1:0] framer_truncated;
wire [FRAMER_STAT_WIDTH-1:0] framer_count_mismatch;
wire [FRAMER_STAT_WIDTH-1:0] framer_zero_length;
wire [FRAMER_STAT_WIDTH-1:0] framer_messages;

vx_mold_framer #(
    .STAT_WIDTH(FRAMER_STAT_WIDTH)
) framer_inst (
    .clk(clk),
    .rst(datapath_rst_reg),
    .cfg_enable(cfg_enable),
    .cfg_file_mode(cfg_file_mode),
    .s_axis_tdata(s_axis_tdata),
    .s_axis_tkeep(s_axis_tkeep),
    .s_axis_tvalid(s_axis_tvalid && book_ready_reg),
    .s_axis_tready(framer_tready),
    .s_axis_tlast(s_axis_tlast),
    .m_axis_tdata(bk_tdata),
    .m_axis_tkeep(bk_tkeep),
    .m_axis_tvalid(bk_tvalid),
    .m_axis_tready(bk_tready),
    .m_axis_tlast(bk_tlast),
    .m_axis_tuser(bk_tuser),
    .stat_seq_gaps(framer_seq_gaps),
    .stat_seq_duplicates(framer_seq_duplicates),
    .stat_packets(framer_packets),
    .stat_heartbeats(framer_heartbeats),
    .stat_end_of_session(framer_end_of_session),
    .stat_wrong_session(framer_wrong_session),
    .stat_truncated(framer_truncated),
    .stat_count_mismatch(framer_count_mismatch),
    .stat_zero_length(framer_zero_length),
    .stat_messages(framer_messages)
);

// Only the book-owned slots are read (counter_merge below).
/* verilator lint_off UNUSEDSIGNAL */
wire [64*NUM_COUNTERS-1:0] book_counters;
/* verilator lint_on UNUSEDSIGNAL */

// HW-only book statistics, read as the FRAMER_STAT slots after the framer's own.
wire [FRAMER_STAT_WIDTH-1:0] book_issue_stalls;
wire [FRAMER_STAT_WIDTH-1:0] book_input_stalls;

vx_book_engine #(
    .LOCATE_BITS(LOCATE_BITS),
    .LEVELS(LEVELS),
    .ORDER_SET_BITS(ORDER_SET_BITS),
    .ORDER_WAYS(ORDER_WAYS),
    .SUB_SYMBOLS(SUB_SYMBOLS),
    .NUM_BOOK_COUNTERS(NUM_COUNTERS)
) book_inst (
    .clk(clk),
    .rst(datapath_rst_reg),
    .s_axis_tdata(bk_tdata),
    .s_axis_tkeep(bk_tkeep),
    .s_axis_tvalid(bk_tvalid),
    .s_axis_tready(bk_tready),
    .s_axis_tlast(bk_tlast),
    .s_axis_tuser(bk_tuser),
    .m_axis_tdata(m_axis_tdata),
    .m_axis_tkeep(m_axis_tkeep),
    .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready),
    .m_axis_tlast(m_axis_tlast),
    .cfg_sub_count(cfg_sub_count),
    .cfg_sub_wr_en(cfg_sub_wr_en),
    .cfg_sub_wr_addr(cfg_sub_wr_addr),
    .cfg_sub_wr_symbol(cfg_sub_wr_symbol),
    .stat_counters(book_counters),
    .stat_issue_stalls(book_issue_stalls),
    .stat_input_stalls(book_input_stalls),
    .busy(book_busy)
);

// The book drives zeros in the two sequencing slots; the framer owns those counts.
wire [64*NUM_COUNTERS-1:0] all_counters;

genvar gc;
generate
    for (gc = 0; gc < NUM_COUNTERS; gc = gc + 1) begin : counter_merge
        if (gc == `VX_CNT_SEQ_GAPS) begin : gaps
            assign all_counters[64*gc +: 64] = framer_seq_gaps;
        end else if (gc == `VX_CNT_SEQ_DUPLICATES) begin : dups
            assign all_counters[64*gc +: 64] = framer_seq_duplicates;
        end else begin : book
            assign all_counters[64*gc +: 64] = book_counters[64*gc +: 64];
        end
    end
endgenerate

// Records that left the top (the book's own `records` counter counts them as produced).
reg [63:0] records_out_reg;

always @(posedge clk) begin
    if (m_axis_tvalid && m_axis_tready) begin
        records_out_reg <= records_out_reg + 64'd1;
    end
    if (datapath_rst_reg) begin
        records_out_reg <= 64'd0;
    end
end

vx_axil_regs #(
    .ADDR_WIDTH(AXIL_ADDR_WIDTH),
    .LOCATE_BITS(LOCATE_BITS),
    .LEVELS(LEVELS),
    .ORDER_SET_BITS(ORDER_SET_BITS),
    .ORDER_WAYS(ORDER_WAYS),
    .SUB_SYMBOLS(SUB_SYMBOLS),
    .NUM_COUNTERS(NUM_COUNTERS),
    .NUM_FRAMER_STATS(NUM_FRAMER_STATS),
    .FRAMER_STAT_WIDTH(FRAMER_STAT_WIDTH)
) regs_inst (
    .clk(clk),
    .rst(rst),
    .s_axil_awaddr(s_axil_awaddr),
    .s_axil_awprot(s_axil_awprot),
    .s_axil_awvalid(s_axil_awvalid),
    .s_axil_awready(s_axil_awready),
    .s_axil_wdata(s_axil_wdata),
    .s_axil_wstrb(s_axil_wstrb),
    .s_axil_wvalid(s_axil_wvalid),
    .s_axil_wready(s_axil_wready),
    .s_axil_bresp(s_axil_bresp),
    .s_axil_bvalid(s_axil_bvalid),
    .s_axil_bready(s_axil_bready),
    .s_axil_araddr(s_axil_araddr),
    .s_axil_arprot(s_axil_arprot),
    .s_axil_arvalid(s_axil_arvalid),
    .s_axil_arready(s_axil_arready),
    .s_axil_rdata(s_axil_rdata),
    .s_axil_rresp(s_axil_rresp),
    .s_axil_rvalid(s_axil_rvalid),
    .s_axil_rready(s_axil_rready),
    .cfg_enable(cfg_enable),
    .cfg_file_mode(cfg_file_mode),
    .cfg_soft_reset(cfg_soft_reset),
    .cfg_sub_count(cfg_sub_count),
    .cfg_sub_wr_en(cfg_sub_wr_en),
    .cfg_sub_wr_addr(cfg_sub_wr_addr),
    .cfg_sub_wr_symbol(cfg_sub_wr_symbol),
    .stat_counters(all_counters),
    .stat_framer({book_input_stalls, book_issue_stalls, framer_messages, framer_zero_length, framer_count_mismatch,
                  framer_truncated, framer_wrong_session, framer_end_of_session,
                  framer_heartbeats, framer_packets}),
    .stat_records_out(records_out_reg)
);

endmodule

`resetall
