//! Installed filters (`eth_newFilter`, `eth_newBlockFilter`): each remembers the next block it
//! has not reported, so every poll returns only what is new. Filters not polled for five minutes
//! are dropped, as in geth.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::rpc::types::Filter;

use crate::{Error, Result};

const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug)]
enum Kind {
    Logs(Box<Filter>),
    Blocks,
}

#[derive(Debug)]
struct Installed {
    kind: Kind,
    next_block: u64,
    last_poll: Instant,
}

/// What a poll has to report: logs of a block range, or new block hashes.
#[derive(Debug)]
pub(crate) enum Changes {
    /// Logs matching the filter in blocks `from..=to`.
    Logs(Box<Filter>, u64, u64),
    /// Hashes of blocks `from..=to`.
    Blocks(u64, u64),
}

/// The installed filters.
#[derive(Debug, Default)]
pub(crate) struct Filters {
    installed: HashMap<U256, Installed>,
    next_id: u64,
}

impl Filters {
    fn add(&mut self, kind: Kind, next_block: u64) -> U256 {
        self.expire();
        self.next_id += 1;
        let id = U256::from(self.next_id);
        self.installed.insert(
            id,
            Installed {
                kind,
                next_block,
                last_poll: Instant::now(),
            },
        );
        id
    }

    /// Installs a log filter that reports from `next_block` on.
    pub(crate) fn add_logs(&mut self, filter: Filter, next_block: u64) -> U256 {
        self.add(Kind::Logs(Box::new(filter)), next_block)
    }

    /// Installs a block filter that reports from `next_block` on.
    pub(crate) fn add_blocks(&mut self, next_block: u64) -> U256 {
        self.add(Kind::Blocks, next_block)
    }

    /// What is new for filter `id` up to block `head`, moving it past `head`.
    pub(crate) fn poll(&mut self, id: U256, head: u64) -> Result<Changes> {
        self.expire();
        let installed = self.installed.get_mut(&id).ok_or_else(|| not_found(id))?;
        installed.last_poll = Instant::now();
        let from = installed.next_block;
        installed.next_block = installed.next_block.max(head + 1);
        let to = head;
        let to = match &installed.kind {
            Kind::Logs(filter) => filter.get_to_block().map_or(to, |end| end.min(to)),
            Kind::Blocks => to,
        };
        Ok(match &installed.kind {
            Kind::Logs(filter) => Changes::Logs(filter.clone(), from, to),
            Kind::Blocks => Changes::Blocks(from, to),
        })
    }

    /// The filter of log filter `id`, for `eth_getFilterLogs`.
    pub(crate) fn logs_filter(&mut self, id: U256) -> Result<Filter> {
        match self.installed.get(&id).map(|installed| &installed.kind) {
            Some(Kind::Logs(filter)) => Ok((**filter).clone()),
            Some(Kind::Blocks) => Err(Error::InvalidParams(format!(
                "filter {id} is a block filter, not a log filter"
            ))),
            None => Err(not_found(id)),
        }
    }

    /// Removes filter `id`; whether it existed.
    pub(crate) fn remove(&mut self, id: U256) -> bool {
        self.installed.remove(&id).is_some()
    }

    fn expire(&mut self) {
        self.installed
            .retain(|_, installed| installed.last_poll.elapsed() < IDLE_TIMEOUT);
    }
}

fn not_found(id: U256) -> Error {
    Error::Rejected(format!(
        "filter not found: {id} (filters expire after five minutes without a poll)"
    ))
}
