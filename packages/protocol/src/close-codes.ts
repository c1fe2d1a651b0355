/** WebSocket close codes shared by server and clients. */
export enum CloseCode {
  Normal = 1000,
  GoingAway = 1001,
  ProtocolError = 1002,
  PolicyViolation = 1008,
  MessageTooBig = 1009,
  InternalError = 1011,
  /** Application codes (4000–4999). */
  Unauthorized = 4001,
  AuthExpired = 4002,
  SlowConsumer = 4008,
  TooManyConnections = 4009,
  RateLimited = 4029,
  BadFrame = 4400,
}
