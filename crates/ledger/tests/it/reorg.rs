//! The indexer against anvil's reorganisations.
