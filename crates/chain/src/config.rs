//! How a chain is set up: its id, where it keeps its blocks, who is funded at genesis, how often
//! it mines.

use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::{Address, U256, address};

/// MedLedger's default chain id: neither anvil's 31337 nor Ganache's 1337, so a wallet never
/// confuses the three.
pub const DEFAULT_CHAIN_ID: u64 = 19_788;

/// The base fee of every block, in wei. Constant: a single-node chain has no congestion to price.
pub const BASE_FEE: u64 = 1_000_000_000;

/// The block gas limit.
pub const BLOCK_GAS_LIMIT: u64 = 30_000_000;

/// The largest raw transaction the pool accepts, as geth (128 KiB).
pub const MAX_TX_BYTES: usize = 128 * 1024;

/// The development accounts `--dev` funds: the addresses of the well-known public test mnemonic
/// "test test test test test test test test test test test junk" (the same as anvil's and
/// Hardhat's). Their private keys are public: never use them outside a development chain.
pub const DEV_ACCOUNTS: [Address; 10] = [
    address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
    address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
    address!("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
    address!("0x90F79bf6EB2c4f870365E785982E1f101E93b906"),
    address!("0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"),
    address!("0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"),
    address!("0x976EA74026E726554dB657fA54763abd0C3a0aa9"),
    address!("0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"),
    address!("0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"),
    address!("0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"),
];

/// What each funded account starts with: 10,000 ether.
pub fn genesis_balance() -> U256 {
    U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18u64))
}

/// A chain's settings.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// Where blocks are kept (`blocks.log` and `chain.json`).
    pub data_dir: PathBuf,
    /// The EIP-155 chain id.
    pub chain_id: u64,
    /// Accounts funded at genesis.
    pub funded: Vec<Address>,
    /// Mine an empty block after this long without transactions (`None`: only when transactions
    /// arrive).
    pub block_time: Option<Duration>,
}

impl ChainConfig {
    /// A chain in `data_dir` with the default id, funding only `funded`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            chain_id: DEFAULT_CHAIN_ID,
            funded: Vec::new(),
            block_time: None,
        }
    }

    /// Also fund the public development accounts (unsafe anywhere but a developer's machine).
    pub fn with_dev_accounts(mut self) -> Self {
        self.funded.extend(DEV_ACCOUNTS);
        self
    }
}

#[cfg(test)]
mod tests {
    use alloy::signers::local::MnemonicBuilder;

    use super::DEV_ACCOUNTS;

    /// Regression: one address was once mistyped; the list must be the mnemonic's first ten.
    #[test]
    fn dev_accounts_are_the_public_test_mnemonic() {
        let phrase = "test test test test test test test test test test test junk";
        for (index, expected) in DEV_ACCOUNTS.iter().enumerate() {
            let signer = MnemonicBuilder::english()
                .phrase(phrase)
                .index(index as u32)
                .and_then(|builder| builder.build())
                .expect("the public mnemonic derives");
            assert_eq!(signer.address(), *expected, "account {index}");
        }
    }
}
