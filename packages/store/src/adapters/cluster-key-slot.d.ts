// Redis Cluster's key → slot function (CRC16 with hash tags), as ioredis uses it; the package ships no types.
declare module 'cluster-key-slot' {
  export default function calculateSlot(key: string | Buffer): number;
}
