// AXI-Lite register block of the feed handler: identification, capacities, control,
// subscription table writes and the statistics counters. Register map: docs/hardware.md.
//
// 64-bit counters are read as two words: reading a low word latches the high word of the
// same counter into a snapshot register, which the following high-word read returns, so a
// carry between the two reads cannot tear the value.
`resetall
`timescale 1ns / 1ps
`default_nettype none

module vx_axil_regs #(
    parameter ADDR_WIDTH = 12,
    parameter DATA_WIDTH = 32,
    parameter STRB_WIDTH = DATA_WIDTH / 8,
    parameter LOCATE_BITS = 14,
    parameter LEVELS = 16,
    parameter ORDER_SET_BITS = 16,
    parameter ORDER_WAYS = 4,
    parameter SUB_SYMBOLS = 64,
    parameter NUM_COUNTERS = 17,
    parameter NUM_FRAMER_STATS = 10,
    parameter FRAMER_STAT_WIDTH = 32,
    parameter SUB_ADDR_WIDTH = (SUB_SYMBOLS > 1) ? $clog2(SUB_SYMBOLS) : 1,
    parameter SUB_COUNT_WIDTH = $clog2(SUB_SYMBOLS + 1)
) (
    input  wire                                        clk,
    input  wire                                        rst,

    input  wire [ADDR_WIDTH-1:0]                       s_axil_awaddr,
    input  wire [2:0]                                  s_axil_awprot,
    input  wire                                        s_axil_awvalid,
    output wire                                        s_axil_awready,
    input  wire [DATA_WIDTH-1:0]                       s_axil_wdata,
    input  wire [STRB_WIDTH-1:0]                       s_axil_wstrb,
    input  wire                                        s_axil_wvalid,
    output wire                                        s_axil_wready,
    output wire [1:0]                                  s_axil_bresp,
    output wire                                        s_axil_bvalid,
    input  wire                                        s_axil_bready,
    input  wire [ADDR_WIDTH-1:0]                       s_axil_araddr,
    input  wire [2:0]                                  s_axil_arprot,
    input  wire                                        s_axil_arvalid,
    output wire                                        s_axil_arready,
    output wire [DATA_WIDTH-1:0]                       s_axil_rdata,
    output wire [1:0]                                  s_axil_rresp,
    output wire                                        s_axil_rvalid,
    input  wire                                        s_axil_rready,

    output wire                                        cfg_enable,
    output wire                                        cfg_file_mode,
    // One-cycle pulse: restart framing, sequencing and the book (tables cleared).
    output wire                                        cfg_soft_reset,
    output wire [SUB_COUNT_WIDTH-1:0]                  cfg_sub_count,
    output wire                                        cfg_sub_wr_en,
    output wire [SUB_ADDR_WIDTH-1:0]                   cfg_sub_wr_addr,
    output wire [63:0]                                 cfg_sub_wr_symbol,

    input  wire [64*NUM_COUNTERS-1:0]                  stat_counters,
    input  wire [FRAMER_STAT_WIDTH*NUM_FRAMER_STATS-1:0] stat_framer,
    input  wire [63:0]                                 stat_records_out
);

localparam [31:0] ID_VALUE = 32'h5658_4d58;  // "VXMX"
localparam [31:0] VERSION_VALUE = 32'h0001_0000;

localparam [31:0]
    REG_ID = 32'h000,
    REG_VERSION = 32'h004,
    REG_CAP0 = 32'h008,
    REG_CAP1 = 32'h00c,
    REG_CTRL = 32'h010,
    REG_SUB_COUNT = 32'h018,
    REG_SUB_ADDR = 32'h020,
    REG_SUB_SYM_LO = 32'h024,
    REG_SUB_SYM_HI = 32'h028,
    REG_RECORDS_LO = 32'h030,
    REG_RECORDS_HI = 32'h034,
    REG_COUNTER_BASE = 32'h100,
    REG_FRAMER_BASE = 32'h200;

localparam CTRL_ENABLE = 0;
localparam CTRL_FILE_MODE = 1;
localparam CTRL_SOFT_RESET = 2;

reg awready_reg, awready_next;
reg wready_reg, wready_next;
reg bvalid_reg, bvalid_next;
reg arready_reg, arready_next;
reg rvalid_reg, rvalid_next;
reg [DATA_WIDTH-1:0] rdata_reg, rdata_next;

reg enable_reg, enable_next;
reg file_mode_reg, file_mode_next;
reg soft_reset_reg, soft_reset_next;
reg [SUB_COUNT_WIDTH-1:0] sub_count_reg, sub_count_next;
reg [SUB_ADDR_WIDTH-1:0] sub_addr_reg, sub_addr_next;
reg [31:0] sub_sym_lo_reg, sub_sym_lo_next;
reg sub_wr_en_reg, sub_wr_en_next;
reg [63:0] sub_wr_symbol_reg, sub_wr_symbol_next;
reg [31:0] snapshot_reg, snapshot_next;

assign s_axil_awready = awready_reg;
assign s_axil_wready = wready_reg;
assign s_axil_bresp = 2'b00;
assign s_axil_bvalid = bvalid_reg;
assign s_axil_arready = arready_reg;
assign s_axil_rdata = rdata_reg;
assign s_axil_rresp = 2'b00;
assign s_axil_rvalid = rvalid_reg;

assign cfg_enable = enable_reg;
assign cfg_file_mode = file_mode_reg;
assign cfg_soft_reset = soft_reset_reg;
assign cfg_sub_count = sub_count_reg;
assign cfg_sub_wr_en = sub_wr_en_reg;
assign cfg_sub_wr_addr = sub_addr_reg;
assign cfg_sub_wr_symbol = sub_wr_symbol_reg;

// Protection bits carry nothing for a register file; write strobes are honoured per byte
// only where a partial write makes sense (none here: every register is written whole).
/* verilator lint_off UNUSEDSIGNAL */
wire unused_axil = ^{s_axil_awprot, s_axil_arprot, s_axil_wstrb, s_axil_awaddr[1:0],
                     s_axil_araddr[1:0]};
/* verilator lint_on UNUSEDSIGNAL */

// Word addresses widened to 32 bits so the map constants compare at one width.
wire [31:0] ar_word = {{(32-ADDR_WIDTH){1'b0}}, s_axil_araddr[ADDR_WIDTH-1:2], 2'b00};
wire [31:0] aw_word = {{(32-ADDR_WIDTH){1'b0}}, s_axil_awaddr[ADDR_WIDTH-1:2], 2'b00};

integer i;

always @* begin
    // Loop index assigned on every path, or synthesis infers a latch for it.
    i = 0;
    awready_next = 1'b0;
    wready_next = 1'b0;
    bvalid_next = bvalid_reg && !s_axil_bready;
    arready_next = 1'b0;
    rvalid_next = rvalid_reg && !s_axil_rready;
    rdata_next = rdata_reg;

    enable_next = enable_reg;
    file_mode_next = file_mode_reg;
    soft_reset_next = 1'b0;
    sub_count_next = sub_count_reg;
    sub_addr_next = sub_addr_reg;
    sub_sym_lo_next = sub_sym_lo_reg;
    sub_wr_en_next = 1'b0;
    sub_wr_symbol_next = sub_wr_symbol_reg;
    snapshot_next = snapshot_reg;

    // Write: address and data taken together, one transaction at a time.
    if (s_axil_awvalid && s_axil_wvalid && !awready_reg && !wready_reg &&
            (!bvalid_reg || s_axil_bready)) begin
        awready_next = 1'b1;
        wready_next = 1'b1;
        bvalid_next = 1'b1;
        case (aw_word)
            REG_CTRL: begin
                enable_next = s_axil_wdata[CTRL_ENABLE];
                file_mode_next = s_axil_wdata[CTRL_FILE_MODE];
                soft_reset_next = s_axil_wdata[CTRL_SOFT_RESET];
            end
            REG_SUB_COUNT: begin
                sub_count_next = (s_axil_wdata > SUB_SYMBOLS) ?
                    SUB_SYMBOLS[SUB_COUNT_WIDTH-1:0] : s_axil_wdata[SUB_COUNT_WIDTH-1:0];
            end
            REG_SUB_ADDR: sub_addr_next = s_axil_wdata[SUB_ADDR_WIDTH-1:0];
            REG_SUB_SYM_LO: sub_sym_lo_next = s_axil_wdata;
            REG_SUB_SYM_HI: begin
                // The high half completes the symbol: one table write per symbol.
                sub_wr_symbol_next = {s_axil_wdata, sub_sym_lo_reg};
                sub_wr_en_next = 1'b1;
            end
            default: begin end
        endcase
    end

    // Read: the data is registered in the cycle the address is taken.
    if (s_axil_arvalid && !arready_reg && (!rvalid_reg || s_axil_rready)) begin
        arready_next = 1'b1;
        rvalid_next = 1'b1;
        rdata_next = 32'd0;
        case (ar_word)
            REG_ID: rdata_next = ID_VALUE;
            REG_VERSION: rdata_next = VERSION_VALUE;
            REG_CAP0: rdata_next = {ORDER_WAYS[7:0], ORDER_SET_BITS[7:0], LEVELS[7:0],
                                    LOCATE_BITS[7:0]};
            REG_CAP1: rdata_next = {8'd0, NUM_FRAMER_STATS[7:0], NUM_COUNTERS[7:0],
                                    SUB_SYMBOLS[7:0]};
            REG_CTRL: rdata_next = {29'd0, 1'b0, file_mode_reg, enable_reg};
            REG_SUB_COUNT: rdata_next[SUB_COUNT_WIDTH-1:0] = sub_count_reg;
            REG_SUB_ADDR: rdata_next[SUB_ADDR_WIDTH-1:0] = sub_addr_reg;
            REG_SUB_SYM_LO: rdata_next = sub_sym_lo_reg;
            REG_RECORDS_LO: begin
                rdata_next = stat_records_out[31:0];
                snapshot_next = stat_records_out[63:32];
            end
            REG_RECORDS_HI: rdata_next = snapshot_reg;
            default: begin
                for (i = 0; i < NUM_COUNTERS; i = i + 1) begin
                    if (ar_word == REG_COUNTER_BASE + 8 * i) begin
                        rdata_next = stat_counters[64*i +: 32];
                        snapshot_next = stat_counters[64*i+32 +: 32];
                    end
                    if (ar_word == REG_COUNTER_BASE + 8 * i + 4) begin
                        rdata_next = snapshot_reg;
                    end
                end
                for (i = 0; i < NUM_FRAMER_STATS; i = i + 1) begin
                    if (ar_word == REG_FRAMER_BASE + 4 * i) begin
                        rdata_next = stat_framer[FRAMER_STAT_WIDTH*i +: 32];
                    end
                end
            end
        endcase
    end
end

always @(posedge clk) begin
    awready_reg <= awready_next;
    wready_reg <= wready_next;
    bvalid_reg <= bvalid_next;
    arready_reg <= arready_next;
    rvalid_reg <= rvalid_next;
    rdata_reg <= rdata_next;
    enable_reg <= enable_next;
    file_mode_reg <= file_mode_next;
    soft_reset_reg <= soft_reset_next;
    sub_count_reg <= sub_count_next;
    sub_addr_reg <= sub_addr_next;
    sub_sym_lo_reg <= sub_sym_lo_next;
    sub_wr_en_reg <= sub_wr_en_next;
    sub_wr_symbol_reg <= sub_wr_symbol_next;
    snapshot_reg <= snapshot_next;

    if (rst) begin
        awready_reg <= 1'b0;
        wready_reg <= 1'b0;
        bvalid_reg <= 1'b0;
        arready_reg <= 1'b0;
        rvalid_reg <= 1'b0;
        // Enabled out of reset in MoldUDP64 mode, so a board needs no driver to start.
        enable_reg <= 1'b1;
        file_mode_reg <= 1'b0;
        soft_reset_reg <= 1'b0;
        sub_count_reg <= {SUB_COUNT_WIDTH{1'b0}};
        sub_addr_reg <= {SUB_ADDR_WIDTH{1'b0}};
        sub_wr_en_reg <= 1'b0;
    end
end

endmodule

`resetall
