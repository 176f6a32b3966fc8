// Vendor UDP broadcast ports, selectable by name (--broadcast wiz,kasa).
export const BROADCAST_PRESETS: Readonly<Record<string, readonly number[]>> = {
  wiz: [38899], // WiZ bulbs: registration/getPilot broadcast
  kasa: [9999], // TP-Link Kasa: discovery on 9999
  lifx: [56700], // LIFX LAN protocol
  tuya: [6666, 6667], // Tuya: device announcements (plain and encrypted)
};
