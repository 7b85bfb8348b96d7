package assets

import "github.com/inflowhq/inflow/pkg/chain"

func native(cur string, dec uint8, codes ...string) *Asset {
	return &Asset{Currency: cur, Decimals: dec, Codes: codes}
}

func token(cur, contract string, dec uint8, codes ...string) *Asset {
	return &Asset{Currency: cur, Contract: contract, Decimals: dec, Codes: codes}
}

var (
	evmL1     = Policy{CreditDepth: 12, Finality: FinalityTag, MaxReorgDepth: 64}
	evmFast   = Policy{CreditDepth: 15, Finality: FinalityTag, MaxReorgDepth: 64}
	evmPolyg  = Policy{CreditDepth: 32, Finality: FinalityTag, MaxReorgDepth: 128}
	evmRollup = Policy{CreditDepth: 10, Finality: FinalityTag, MaxReorgDepth: 64}
)

// Default returns the built-in chains and assets. Token contracts are the
// issuers' own. On testnets, only tokens with an issuer-run contract are
// listed (Circle's USDC); others are added through the operator's file.
func Default() *Config {
	c := &Config{Chains: []*Chain{
		{ID: "ethereum", Family: chain.FamilyEVM, Name: "Ethereum", EVMChainID: 1, Policy: evmL1, Assets: []*Asset{
			native("ETH", 18, "ETH"),
			token("USDT", "0xdAC17F958D2ee523a2206206994597C13D831ec7", 6, "eUSDT"),
			token("USDC", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", 6, "eUSDC"),
			token("DAI", "0x6B175474E89094C44Da98b954EedeAC495271d0F", 18),
		}},
		{ID: "bsc", Family: chain.FamilyEVM, Name: "BNB Smart Chain", EVMChainID: 56, Policy: evmFast, Assets: []*Asset{
			native("BNB", 18, "BNB"),
			token("USDT", "0x55d398326f99059fF775485246999027B3197955", 18, "bUSDT"),
			token("USDC", "0x8AC76a51cc950d9822D68b83fE1Ad97B32Cd580d", 18),
			token("DAI", "0x1AF3F329e8BE154074D8769D1FFa4eE058B1DBc3", 18),
		}},
		{ID: "polygon", Family: chain.FamilyEVM, Name: "Polygon PoS", EVMChainID: 137, Policy: evmPolyg, Assets: []*Asset{
			native("POL", 18, "POL"),
			token("USDT", "0xc2132D05D31c914a87C6611C10748AEb04B58e8F", 6, "wpUSDT"),
			token("USDC", "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359", 6, "pUSDC"),
			token("USDC.E", "0x2791Bca1f2de4661ED88A30C99A7a9449Aa84174", 6, "wpUSDC"),
			token("DAI", "0x8f3Cf7ad23Cd3CaDbD9735AFf958023239c6A063", 18),
		}},
		{ID: "base", Family: chain.FamilyEVM, Name: "Base", EVMChainID: 8453, Policy: evmRollup, Assets: []*Asset{
			native("ETH", 18),
			token("USDC", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", 6),
			token("USDT", "0xfde4C96c8593536E31F229EA8f37b2ADa2699bb2", 6),
			token("DAI", "0x50c5725949A6F0c72E6C4a641F24049A917DB0Cb", 18),
		}},
		{ID: "arbitrum", Family: chain.FamilyEVM, Name: "Arbitrum One", EVMChainID: 42161, Policy: evmRollup, Assets: []*Asset{
			native("ETH", 18),
			token("USDT", "0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9", 6),
			token("USDC", "0xaf88d065e77c8cC2239327C5EDb3A432268e5831", 6),
			token("DAI", "0xDA10009cBd5D07dd0CeCc66161FC93D7c9000da1", 18),
		}},
		{ID: "bahamut", Family: chain.FamilyEVM, Name: "Bahamut", EVMChainID: 5165,
			Policy: Policy{CreditDepth: 20, Finality: FinalityDepth, FinalityDepth: 120, MaxReorgDepth: 64},
			Assets: []*Asset{native("FTN", 18, "FTN")}},
		{ID: "ethereum-sepolia", Family: chain.FamilyEVM, Name: "Ethereum Sepolia", Testnet: true, EVMChainID: 11155111, Policy: evmL1, Assets: []*Asset{
			native("ETH", 18),
			token("USDC", "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238", 6),
		}},
		{ID: "polygon-amoy", Family: chain.FamilyEVM, Name: "Polygon Amoy", Testnet: true, EVMChainID: 80002, Policy: evmPolyg, Assets: []*Asset{
			native("POL", 18),
			token("USDC", "0x41E94Eb019C0762f9Bfcf9Fb1E58725BfB0e7582", 6),
		}},
		{ID: "base-sepolia", Family: chain.FamilyEVM, Name: "Base Sepolia", Testnet: true, EVMChainID: 84532, Policy: evmRollup, Assets: []*Asset{
			native("ETH", 18),
			token("USDC", "0x036CbD53842c5426634e7929541eC2318f3dCF7e", 6),
		}},
		{ID: "evm-devnet", Family: chain.FamilyEVM, Name: "Inflow EVM devnet", Testnet: true, EVMChainID: 1337,
			Policy: Policy{CreditDepth: 3, Finality: FinalityTag, MaxReorgDepth: 32}, Assets: []*Asset{
				native("ETH", 18),
				token("USDT", "0x00000000000000000000000000000000000a5d70", 6),
				token("DAI", "0x00000000000000000000000000000000000da100", 18),
			}},
		{ID: "tron", Family: chain.FamilyTron, Name: "Tron",
			Policy: Policy{CreditDepth: 19, Finality: FinalityTag, MaxReorgDepth: 27}, Assets: []*Asset{
				native("TRX", 6),
				token("USDT", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", 6, "tUSDT"),
				token("USDC", "TEkxiTehnzSmSe2XqrBj4w32RUN966rdz8", 6, "tUSDC"),
			}},
		{ID: "tron-nile", Family: chain.FamilyTron, Name: "Tron Nile", Testnet: true,
			Policy: Policy{CreditDepth: 19, Finality: FinalityTag, MaxReorgDepth: 27}, Assets: []*Asset{native("TRX", 6)}},
		{ID: "tron-shasta", Family: chain.FamilyTron, Name: "Tron Shasta", Testnet: true,
			Policy: Policy{CreditDepth: 19, Finality: FinalityTag, MaxReorgDepth: 27}, Assets: []*Asset{native("TRX", 6)}},
		// The local node solidifies 19 blocks behind its head and reorgs
		// only what is not solid.
		{ID: "tron-devnet", Family: chain.FamilyTron, Name: "Inflow Tron devnet", Testnet: true,
			Policy: Policy{CreditDepth: 3, Finality: FinalityTag, MaxReorgDepth: 18}, Assets: []*Asset{
				native("TRX", 6),
				token("USDT", "TDpb5Me1roYN1uTj1jS3kaaePU8E3tJuEE", 6),
				{Currency: "BTT", TokenID: "1002000", Decimals: 6},
			}},
		{ID: "solana", Family: chain.FamilySolana, Name: "Solana",
			Policy: Policy{CreditDepth: 32, Finality: FinalityTag, MaxReorgDepth: 150}, Assets: []*Asset{
				native("SOL", 9, "SOL"),
				token("USDT", "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB", 6, "sUSDT"),
				token("USDC", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 6),
			}},
		{ID: "solana-testnet", Family: chain.FamilySolana, Name: "Solana Testnet", Testnet: true,
			Policy: Policy{CreditDepth: 32, Finality: FinalityTag, MaxReorgDepth: 150}, Assets: []*Asset{native("SOL", 9)}},
		// The local node finalizes 32 slots behind its head (about 28
		// blocks) and reorgs only what is not final; a reorg of more than
		// 24 blocks halts, so the halt can be shown on it.
		{ID: "solana-localnet", Family: chain.FamilySolana, Name: "Inflow Solana localnet", Testnet: true,
			Policy: Policy{CreditDepth: 4, Finality: FinalityTag, MaxReorgDepth: 24}, Assets: []*Asset{
				native("SOL", 9),
				token("USDT", "FTtVx8qMb5fZpvr7pesu9pCZ359UnMajhSAfnAiYKtXc", 6),
				token("USDF", "2ndukHx67uZigm2US5uQJrCs1jQHi8R37pMbTRngxMee", 6), // Token-2022, with a transfer fee
			}},
		{ID: "solana-devnet", Family: chain.FamilySolana, Name: "Solana Devnet", Testnet: true,
			Policy: Policy{CreditDepth: 32, Finality: FinalityTag, MaxReorgDepth: 150}, Assets: []*Asset{
				native("SOL", 9),
				token("USDC", "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU", 6),
			}},
		// Bitcoin has no finality signal: a depth stands in for it
		// (FinalityDepth), and a reorg deeper than MaxReorgDepth halts.
		{ID: "bitcoin", Family: chain.FamilyBitcoin, Name: "Bitcoin", BitcoinNetwork: "mainnet",
			Policy: Policy{CreditDepth: 2, Finality: FinalityDepth, FinalityDepth: 6, MaxReorgDepth: 6}, Assets: []*Asset{native("BTC", 8, "BTC")}},
		// testnet4's difficulty resets let minority miners make deeper
		// reorgs than mainnet sees.
		{ID: "bitcoin-testnet", Family: chain.FamilyBitcoin, Name: "Bitcoin testnet4", Testnet: true, BitcoinNetwork: "testnet4",
			Policy: Policy{CreditDepth: 3, Finality: FinalityDepth, FinalityDepth: 12, MaxReorgDepth: 12}, Assets: []*Asset{native("BTC", 8)}},
		{ID: "bitcoin-signet", Family: chain.FamilyBitcoin, Name: "Bitcoin signet", Testnet: true, BitcoinNetwork: "signet",
			Policy: Policy{CreditDepth: 1, Finality: FinalityDepth, FinalityDepth: 6, MaxReorgDepth: 6}, Assets: []*Asset{native("BTC", 8)}},
		{ID: "bitcoin-regtest", Family: chain.FamilyBitcoin, Name: "Inflow Bitcoin regtest", Testnet: true, BitcoinNetwork: "regtest",
			Policy: Policy{CreditDepth: 2, Finality: FinalityDepth, FinalityDepth: 6, MaxReorgDepth: 6}, Assets: []*Asset{native("BTC", 8)}},
	}}
	if err := c.index(); err != nil {
		panic(err) // the built-in table is checked by its tests
	}
	return c
}
