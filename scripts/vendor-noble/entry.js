// What the browser's voting code needs from noble, and nothing else: the secp256k1 curve
// (its Point class, through the ECDSA object that carries it) and SHA-256.
export { secp256k1 } from '@noble/curves/secp256k1.js';
export { sha256 } from '@noble/hashes/sha2.js';
