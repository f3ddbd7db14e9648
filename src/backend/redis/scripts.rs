//! The Lua scripts, each prefixed with the shared prelude (key helpers and the job rules).

use deadpool_redis::redis::Script;

const PRELUDE: &str = include_str!("lua/prelude.lua");

fn with_prelude(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}"))
}

pub(super) struct Scripts {
    pub accept: Script,
    pub outcome: Script,
    pub control: Script,
    pub enqueue_done: Script,
    pub create: Script,
    pub set_expected: Script,
    pub idle: Script,
    pub ack: Script,
    pub retry: Script,
    pub park: Script,
    pub release: Script,
    pub reject: Script,
    pub promote: Script,
    pub requeue: Script,
    pub trim_head: Script,
    pub task_started: Script,
    pub lead: Script,
    pub put_credential: Script,
    pub schedule_create: Script,
    pub schedule_update: Script,
    pub schedule_delete: Script,
    pub schedule_claim: Script,
    pub schedule_finish: Script,
    pub reuse_remember: Script,
}

impl Scripts {
    pub fn load() -> Self {
        Self {
            accept: with_prelude(include_str!("lua/accept.lua")),
            outcome: with_prelude(&format!(
                "{}\n{}",
                include_str!("lua/store_result.lua"),
                include_str!("lua/outcome.lua")
            )),
            control: with_prelude(include_str!("lua/control.lua")),
            enqueue_done: with_prelude(include_str!("lua/enqueue_done.lua")),
            create: with_prelude(include_str!("lua/create.lua")),
            set_expected: with_prelude(include_str!("lua/set_expected.lua")),
            idle: with_prelude(include_str!("lua/idle.lua")),
            ack: with_prelude(include_str!("lua/ack.lua")),
            retry: with_prelude(include_str!("lua/retry.lua")),
            park: with_prelude(include_str!("lua/park.lua")),
            release: with_prelude(include_str!("lua/release.lua")),
            reject: with_prelude(include_str!("lua/reject.lua")),
            promote: with_prelude(include_str!("lua/promote.lua")),
            requeue: with_prelude(include_str!("lua/requeue.lua")),
            trim_head: with_prelude(include_str!("lua/trim_head.lua")),
            task_started: with_prelude(include_str!("lua/task_started.lua")),
            lead: with_prelude(include_str!("lua/lead.lua")),
            put_credential: with_prelude(include_str!("lua/put_credential.lua")),
            schedule_create: with_prelude(include_str!("lua/schedule_create.lua")),
            schedule_update: with_prelude(include_str!("lua/schedule_update.lua")),
            schedule_delete: with_prelude(include_str!("lua/schedule_delete.lua")),
            schedule_claim: with_prelude(include_str!("lua/schedule_claim.lua")),
            schedule_finish: with_prelude(include_str!("lua/schedule_finish.lua")),
            reuse_remember: with_prelude(include_str!("lua/reuse_remember.lua")),
        }
    }
}
