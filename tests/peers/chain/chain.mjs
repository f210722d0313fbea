#!/usr/bin/env node
// The local chain for the auth tests: ganache on 127.0.0.1, OpenZeppelin's ERC-721 and ERC-1155
// and an EIP-1271 contract wallet compiled by solc-js and deployed with ethers, and the signatures
// a client makes (EIP-191 personal_sign, SIWE/EIP-4361 messages built by the `siwe` package).
// Every subcommand prints ONE JSON object on one line on stdout and exits 0, or prints an error
// on stderr and exits non-zero (2 for a usage error).
//
//   node chain.mjs serve --port P
//       {"rpc":"http://127.0.0.1:P","chain_id":1337,"accounts":[{"address":"0x..","key":"0x.."} x5]}
//       once listening; runs until SIGTERM or SIGINT (then closes and exits 0)
//   node chain.mjs deploy --rpc URL
//       {"erc721":"0x..","erc1155":"0x..","wallet":"0x..",
//        "erc721_holder":"0x..","erc1155_holder":"0x..","wallet_owner":"0x.."}
//       (from account 0: ERC-721 token 1 minted to account 1, ERC-1155 id 7 amount 1 to
//       account 2, the wallet owned by account 3; the compile is cached under node_modules/.cache)
//   node chain.mjs transfer --rpc URL --contract ADDR --key FROM_KEY --to ADDR --token ID
//       {"tx":"0x.."}                           (ERC-721 safeTransferFrom, receipt awaited)
//   node chain.mjs owner --rpc URL --contract ADDR --token ID
//       {"owner":"0x.."}                        (ERC-721 ownerOf)
//   node chain.mjs balance --rpc URL --contract ADDR --address ADDR [--id ID]
//       {"balance":"N"}                         (ERC-721 balanceOf, or ERC-1155 with --id)
//   node chain.mjs is-valid-signature --rpc URL --contract WALLET --hash 0x.. --signature 0x..
//       {"magic":"0x1626ba7e"}                  (EIP-1271; "0xffffffff" when not the owner's)
//   node chain.mjs siwe --key K --domain D --uri U --chain-id N --nonce NONCE [--issued-at ISO]
//                       [--expiration ISO] [--statement S] [--address ADDR]
//       {"message":"..","signature":"0x..","address":"0x..","signer":"0x.."}
//       (address: the one in the message, --address if given, e.g. a contract wallet's;
//       signer: the key's)
//   node chain.mjs differential --count N --seed S
//       {"cases":[{"message":"..","signature":"0x..","address":"0x.."},..]}   (deterministic)
//   node chain.mjs wallet-sign --key OWNER_KEY --message TEXT
//       {"signature":"0x..","hash":"0x.."}      (EIP-191 signature of TEXT and its hashMessage)
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHAIN_ID = 1337;
const MNEMONIC = 'test test test test test test test test test test test junk';
const ACCOUNTS = 5;

class UsageError extends Error {}

// --name value pairs; every option takes a value. Returns {name: value}.
function parseOptions(argv, allowed) {
  const options = {};
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i];
    if (!name.startsWith('--') || !allowed.includes(name.slice(2))) {
      throw new UsageError(`unknown option ${name} (expected ${allowed.map((a) => '--' + a).join(', ')})`);
    }
    if (i + 1 >= argv.length) throw new UsageError(`${name} needs a value`);
    options[name.slice(2)] = argv[i + 1];
  }
  return options;
}

function need(options, ...names) {
  for (const name of names) {
    if (options[name] === undefined) throw new UsageError(`--${name} is required`);
  }
}

function integer(text, name) {
  if (!/^[0-9]+$/.test(text)) throw new UsageError(`--${name} must be a non-negative integer`);
  return BigInt(text);
}

function print(object) {
  return new Promise((resolve) => process.stdout.write(JSON.stringify(object) + '\n', resolve));
}

// ---- serve -------------------------------------------------------------------------------------

async function serve(argv) {
  const options = parseOptions(argv, ['port']);
  need(options, 'port');
  const port = Number(integer(options.port, 'port'));
  if (port < 1 || port > 65535) throw new UsageError('--port must be in 1..65535');
  const { default: ganache } = await import('ganache');
  const { getAddress } = await import('ethers');
  const server = ganache.server({
    chain: { chainId: CHAIN_ID, networkId: CHAIN_ID },
    wallet: { mnemonic: MNEMONIC, totalAccounts: ACCOUNTS },
    miner: { instamine: 'eager' },
    logging: { quiet: true },
  });
  await server.listen(port, '127.0.0.1');
  const initial = await server.provider.getInitialAccounts();
  const accounts = Object.entries(initial).map(([address, account]) => ({
    address: getAddress(address),
    key: account.secretKey,
  }));
  await print({ rpc: `http://127.0.0.1:${port}`, chain_id: CHAIN_ID, accounts });
  await new Promise((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await server.close();
}

// ---- a provider for --rpc ----------------------------------------------------------------------

// Asks for the chain id first, with a deadline, so that an absent node is an error rather than
// ethers' endless "failed to detect network" retries; the provider then trusts that network.
async function connect(rpc) {
  const ethers = await import('ethers');
  let chainId;
  try {
    const response = await fetch(rpc, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(10000),
    });
    const body = await response.json();
    chainId = BigInt(body.result);
  } catch (e) {
    throw new Error(`no Ethereum JSON-RPC node at ${rpc}: ${e.message}`);
  }
  const network = ethers.Network.from(chainId);
  const provider = new ethers.JsonRpcProvider(rpc, network, { staticNetwork: network, pollingInterval: 50 });
  return { ethers, provider };
}

// ---- deploy ------------------------------------------------------------------------------------

const SOURCE = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";

contract StreamGateTestERC721 is ERC721, Ownable {
    constructor() ERC721("StreamGate Test ERC-721", "SG721") Ownable(msg.sender) {}

    function mint(address to, uint256 id) external onlyOwner {
        _safeMint(to, id);
    }
}

contract StreamGateTestERC1155 is ERC1155, Ownable {
    constructor() ERC1155("") Ownable(msg.sender) {}

    function mint(address to, uint256 id, uint256 amount) external onlyOwner {
        _mint(to, id, amount, "");
    }
}

// EIP-1271: valid when the signature over the hash is the owner's. A malformed signature is
// "invalid" (0xffffffff) rather than a revert, as a wallet answers.
contract StreamGateTestWallet is IERC1271 {
    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes memory signature) external view returns (bytes4) {
        (address signer, ECDSA.RecoverError error, ) = ECDSA.tryRecover(hash, signature);
        if (error == ECDSA.RecoverError.NoError && signer == owner) {
            return IERC1271.isValidSignature.selector;
        }
        return 0xffffffff;
    }
}
`;

const SETTINGS = {
  evmVersion: 'paris',
  optimizer: { enabled: true, runs: 200 },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
};

function packageVersion(name) {
  return JSON.parse(fs.readFileSync(path.join(here, 'node_modules', name, 'package.json'), 'utf8')).version;
}

// {name: {abi, bytecode}} for the three contracts, from the cache when the source, the settings,
// solc and OpenZeppelin are the same as when it was written.
async function compile() {
  const key = crypto
    .createHash('sha256')
    .update(JSON.stringify([SOURCE, SETTINGS, packageVersion('solc'), packageVersion('@openzeppelin/contracts')]))
    .digest('hex');
  const cacheDir = path.join(here, 'node_modules', '.cache', 'streamgate-chain');
  const cacheFile = path.join(cacheDir, `${key}.json`);
  try {
    return JSON.parse(fs.readFileSync(cacheFile, 'utf8'));
  } catch {
    // not cached yet
  }
  const { default: solc } = await import('solc');
  const input = { language: 'Solidity', sources: { 'StreamGateTest.sol': { content: SOURCE } }, settings: SETTINGS };
  const findImports = (name) => {
    if (!name.startsWith('@openzeppelin/')) return { error: `not found: ${name}` };
    try {
      return { contents: fs.readFileSync(path.join(here, 'node_modules', name), 'utf8') };
    } catch (e) {
      return { error: e.message };
    }
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  if (errors.length > 0) throw new Error(`solc: ${errors.map((e) => e.formattedMessage).join('\n')}`);
  const contracts = {};
  for (const [name, contract] of Object.entries(output.contracts['StreamGateTest.sol'])) {
    contracts[name] = { abi: contract.abi, bytecode: '0x' + contract.evm.bytecode.object };
  }
  fs.mkdirSync(cacheDir, { recursive: true });
  const partial = `${cacheFile}.${process.pid}`;
  fs.writeFileSync(partial, JSON.stringify(contracts));
  fs.renameSync(partial, cacheFile);
  return contracts;
}

async function deploy(argv) {
  const options = parseOptions(argv, ['rpc']);
  need(options, 'rpc');
  const contracts = await compile();
  const { ethers, provider } = await connect(options.rpc);
  try {
    const accounts = await provider.listAccounts();
    if (accounts.length < 4) throw new Error(`the node has ${accounts.length} accounts; 4 are needed`);
    const [deployer, holder721, holder1155, walletOwner] = accounts;
    const deployed = async (name, ...args) => {
      const { abi, bytecode } = contracts[name];
      const contract = await new ethers.ContractFactory(abi, bytecode, deployer).deploy(...args);
      await contract.waitForDeployment();
      return contract;
    };
    const mined = async (pending) => {
      const receipt = await (await pending).wait();
      if (receipt.status !== 1) throw new Error(`transaction ${receipt.hash} failed`);
    };
    const erc721 = await deployed('StreamGateTestERC721');
    const erc1155 = await deployed('StreamGateTestERC1155');
    const wallet = await deployed('StreamGateTestWallet', walletOwner.address);
    await mined(erc721.mint(holder721.address, 1n));
    await mined(erc1155.mint(holder1155.address, 7n, 1n));
    await print({
      erc721: await erc721.getAddress(),
      erc1155: await erc1155.getAddress(),
      wallet: await wallet.getAddress(),
      erc721_holder: holder721.address,
      erc1155_holder: holder1155.address,
      wallet_owner: walletOwner.address,
    });
  } finally {
    provider.destroy();
  }
}

// ---- transfer, owner, balance ------------------------------------------------------------------

const ERC721_ABI = [
  'function safeTransferFrom(address from, address to, uint256 tokenId)',
  'function ownerOf(uint256 tokenId) view returns (address)',
  'function balanceOf(address owner) view returns (uint256)',
];
const ERC1155_ABI = ['function balanceOf(address account, uint256 id) view returns (uint256)'];
const ERC1271_ABI = ['function isValidSignature(bytes32 hash, bytes signature) view returns (bytes4)'];

async function transfer(argv) {
  const options = parseOptions(argv, ['rpc', 'contract', 'key', 'to', 'token']);
  need(options, 'rpc', 'contract', 'key', 'to', 'token');
  const token = integer(options.token, 'token');
  const { ethers, provider } = await connect(options.rpc);
  try {
    const signer = new ethers.Wallet(options.key, provider);
    const contract = new ethers.Contract(ethers.getAddress(options.contract), ERC721_ABI, signer);
    const response = await contract.safeTransferFrom(signer.address, ethers.getAddress(options.to), token);
    const receipt = await response.wait();
    if (receipt.status !== 1) throw new Error(`transaction ${receipt.hash} failed`);
    await print({ tx: receipt.hash });
  } finally {
    provider.destroy();
  }
}

async function owner(argv) {
  const options = parseOptions(argv, ['rpc', 'contract', 'token']);
  need(options, 'rpc', 'contract', 'token');
  const token = integer(options.token, 'token');
  const { ethers, provider } = await connect(options.rpc);
  try {
    const contract = new ethers.Contract(ethers.getAddress(options.contract), ERC721_ABI, provider);
    await print({ owner: await contract.ownerOf(token) });
  } finally {
    provider.destroy();
  }
}

async function balance(argv) {
  const options = parseOptions(argv, ['rpc', 'contract', 'address', 'id']);
  need(options, 'rpc', 'contract', 'address');
  const id = options.id === undefined ? undefined : integer(options.id, 'id');
  const { ethers, provider } = await connect(options.rpc);
  try {
    const address = ethers.getAddress(options.address);
    const at = ethers.getAddress(options.contract);
    const value =
      id === undefined
        ? await new ethers.Contract(at, ERC721_ABI, provider).balanceOf(address)
        : await new ethers.Contract(at, ERC1155_ABI, provider).balanceOf(address, id);
    await print({ balance: value.toString() });
  } finally {
    provider.destroy();
  }
}

async function isValidSignature(argv) {
  const options = parseOptions(argv, ['rpc', 'contract', 'hash', 'signature']);
  need(options, 'rpc', 'contract', 'hash', 'signature');
  const { ethers, provider } = await connect(options.rpc);
  try {
    const contract = new ethers.Contract(ethers.getAddress(options.contract), ERC1271_ABI, provider);
    await print({ magic: await contract.isValidSignature(options.hash, options.signature) });
  } finally {
    provider.destroy();
  }
}

// ---- signing -----------------------------------------------------------------------------------

async function siwe(argv) {
  const options = parseOptions(argv, [
    'key', 'domain', 'uri', 'chain-id', 'nonce', 'issued-at', 'expiration', 'statement', 'address',
  ]);
  need(options, 'key', 'domain', 'uri', 'chain-id', 'nonce');
  const ethers = await import('ethers');
  const { SiweMessage } = await import('siwe');
  const signer = new ethers.Wallet(options.key);
  const address = options.address === undefined ? signer.address : ethers.getAddress(options.address);
  const fields = {
    domain: options.domain,
    address,
    uri: options.uri,
    version: '1',
    chainId: Number(integer(options['chain-id'], 'chain-id')),
    nonce: options.nonce,
    issuedAt: options['issued-at'] ?? new Date().toISOString(),
  };
  if (options.expiration !== undefined) fields.expirationTime = options.expiration;
  if (options.statement !== undefined) fields.statement = options.statement;
  const message = new SiweMessage(fields).prepareMessage();
  const signature = await signer.signMessage(message);
  await print({ message, signature, address, signer: signer.address });
}

async function walletSign(argv) {
  const options = parseOptions(argv, ['key', 'message']);
  need(options, 'key', 'message');
  const ethers = await import('ethers');
  const signer = new ethers.Wallet(options.key);
  const signature = await signer.signMessage(options.message);
  await print({ signature, hash: ethers.hashMessage(options.message) });
}

// sfc32, seeded from SHA-256 of the seed's text: the same seed gives the same cases everywhere.
function prng(seed) {
  const words = crypto.createHash('sha256').update(String(seed)).digest();
  let a = words.readUInt32LE(0);
  let b = words.readUInt32LE(4);
  let c = words.readUInt32LE(8);
  let d = words.readUInt32LE(12);
  const next = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 15; i++) next();
  return {
    below: (n) => next() % n, // n is small: the modulo bias does not matter here
    bytes: (n) => {
      const out = Buffer.alloc(n);
      for (let i = 0; i < n; i += 4) out.writeUInt32LE(next(), i);
      return out;
    },
  };
}

// A third of the messages are printable ASCII with newlines (\n, \r\n, \t); the rest also hold
// 2-, 3- and 4-byte UTF-8 characters (no lone surrogates: they are not UTF-8).
function randomCharacter(random, unicode) {
  const kind = random.below(unicode ? 24 : 16);
  if (kind < 13) return String.fromCharCode(0x20 + random.below(0x7f - 0x20));
  if (kind === 13 || kind === 14) return '\n';
  if (kind === 15) return ['\t', '\r', '\r\n'][random.below(3)];
  if (kind < 18) return String.fromCodePoint(0x80 + random.below(0x800 - 0x80));
  if (kind < 22) {
    const point = 0x800 + random.below(0x10000 - 0x800);
    return point >= 0xd800 && point < 0xe000 ? '\u20ac' : String.fromCodePoint(point);
  }
  return String.fromCodePoint(0x10000 + random.below(0x110000 - 0x10000));
}

// 0..300 bytes of UTF-8.
function randomMessage(random) {
  const limit = random.below(301);
  const unicode = random.below(3) !== 0;
  let message = '';
  let length = 0;
  while (length < limit) {
    const character = randomCharacter(random, unicode);
    const size = Buffer.byteLength(character);
    if (length + size > limit) {
      if (limit - length < 4) break;
      continue;
    }
    message += character;
    length += size;
  }
  return message;
}

async function differential(argv) {
  const options = parseOptions(argv, ['count', 'seed']);
  need(options, 'count', 'seed');
  const count = Number(integer(options.count, 'count'));
  const ethers = await import('ethers');
  const random = prng(options.seed);
  const order = BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
  const cases = [];
  for (let i = 0; i < count; i++) {
    let key;
    do key = random.bytes(32);
    while (BigInt('0x' + key.toString('hex')) === 0n || BigInt('0x' + key.toString('hex')) >= order);
    const message = randomMessage(random);
    const signer = new ethers.SigningKey('0x' + key.toString('hex'));
    const signature = signer.sign(ethers.hashMessage(message)).serialized;
    const address = ethers.verifyMessage(message, signature);
    if (address !== ethers.computeAddress(signer.publicKey)) throw new Error(`case ${i}: ethers recovers another address`);
    cases.push({ message, signature, address });
  }
  await print({ cases });
}

// ---- main --------------------------------------------------------------------------------------

const commands = {
  serve,
  deploy,
  transfer,
  owner,
  balance,
  'is-valid-signature': isValidSignature,
  siwe,
  differential,
  'wallet-sign': walletSign,
};

const [command, ...rest] = process.argv.slice(2);
try {
  if (!Object.hasOwn(commands, command ?? '')) {
    throw new UsageError(`usage: chain.mjs ${Object.keys(commands).join('|')} [--option value]...`);
  }
  await commands[command](rest);
  process.exit(0);
} catch (e) {
  process.stderr.write(`chain.mjs ${command ?? ''}: ${e instanceof UsageError ? '' : 'error: '}${e.message}\n`);
  process.exit(e instanceof UsageError ? 2 : 1);
}
