// DHCPv4 numbers used by the client (RFC 2131, RFC 2132). Protocol constants live beside the protocol.

export const SERVER_PORT = 67;
export const CLIENT_PORT = 68;

/** RFC 2131 §3: the magic cookie that starts the options field. */
export const MAGIC_COOKIE = 0x63825363;

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
/** ARP hardware type Ethernet (htype 1, hlen 6). */
export const HTYPE_ETHERNET = 1;
/** RFC 2131 §2: the leftmost bit of `flags` asks the server to broadcast its reply. */
export const FLAG_BROADCAST = 0x8000;

/** RFC 2132 §9.6: DHCP message type values. */
export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;
export type MessageTypeName = keyof typeof MessageType;
export type MessageTypeCode = (typeof MessageType)[MessageTypeName];

export function messageTypeName(code: number): MessageTypeName | undefined {
  for (const [name, value] of Object.entries(MessageType)) if (value === code) return name as MessageTypeName;
  return undefined;
}

/** RFC 2132 option codes the client writes or reads. */
export const Option = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOST_NAME: 12,
  DOMAIN_NAME: 15,
  BROADCAST: 28,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_TIME: 58, // T1
  REBINDING_TIME: 59, // T2
  CLIENT_ID: 61,
  END: 255,
} as const;
