#include "cache/cache_worker.hpp"

#include <chrono>
#include <cstdio>

namespace g::cache {

std::int64_t monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

cache_worker::cache_worker(cache_store& store, event_planner& planner, worker_settings settings, std::string name)
    : store_(store), planner_(planner), settings_(settings), name_(std::move(name)) {}

void cache_worker::log(const std::string& what) const { std::fprintf(stderr, "g-cache %s: %s\n", name_.c_str(), what.c_str()); }

bool cache_worker::take(std::optional<std::vector<stream_entry>> entries, bool claimed) {
  if (!entries) return false;
  std::int64_t now = monotonic_ms();
  for (auto& e : *entries) {
    if (claimed && !held_.count(e.id)) ++counters_.claimed;
    std::string id = e.id;
    held_.try_emplace(std::move(id), held_entry{std::move(e), now, false});
  }
  return true;
}

bool cache_worker::step() {
  if (!started_) {
    // Entries this consumer held before a restart under the same name come first.
    if (!take(store_.read_own_pending(settings_.batch * 4), false)) return false;
    started_ = true;
  }
  std::int64_t now = monotonic_ms();
  if (now - last_claim_ms_ >= 1000) {
    last_claim_ms_ = now;
    if (!take(store_.claim_idle(settings_.claim_idle_ms, settings_.batch), true)) return false;
  }
  // Block for new entries only when nothing held is waiting to be retried.
  if (!take(store_.read_new(settings_.batch, held_.empty() ? 500 : 5), false)) return false;
  return apply_ready();
}

bool cache_worker::flush(std::vector<pending_apply>& batch) {
  if (batch.empty()) return true;
  auto outcomes = store_.apply(batch);
  bool ok = true;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    std::string id = batch[i].entry->id;  // a copy: erasing the entry frees the original
    switch (outcomes[i]) {
      case apply_outcome::applied:
        ++counters_.applied;
        held_.erase(id);
        break;
      case apply_outcome::duplicate:
        ++counters_.duplicates;
        held_.erase(id);
        break;
      case apply_outcome::not_next: break;  // another worker moved the shard meanwhile: retried next step
      case apply_outcome::failed: ok = false; break;
    }
  }
  batch.clear();
  if (!ok) log("applying failed, will retry: " + store_.error());
  return ok;
}

void cache_worker::look_for_gaps(const std::string& id, held_entry& h) {
  // Its predecessor: held by another worker (wait; a dead one's entries are claimed), still in the stream but held
  // by nobody (take it), or trimmed away (a gap: apply without it, loudly).
  const std::string& prev = h.entry.prev;
  if (held_.count(prev)) return;
  auto pending = store_.pending(prev);
  if (!pending || *pending) return;
  if (auto e = store_.fetch(prev)) {
    std::string pid = e->id;
    held_.try_emplace(std::move(pid), held_entry{std::move(*e), monotonic_ms(), false});
    return;
  }
  auto in_stream = store_.in_stream(prev);
  if (!in_stream || *in_stream) return;
  h.force = true;
  ++counters_.gaps;
  log("shard " + std::to_string(h.entry.shard) + ": entry " + id + " follows " + prev +
      ", which is no longer in the stream; applied without it (the shard's cache may miss changes until its next READY)");
}

bool cache_worker::apply_ready() {
  if (held_.empty()) return true;
  std::set<int> shards;
  for (auto& [id, h] : held_) shards.insert(h.entry.shard);
  auto applied = store_.applied_ids({shards.begin(), shards.end()});
  if (!applied) {
    log("cannot read cache:applied_id: " + store_.error());
    return false;
  }
  std::map<int, std::string>& last = *applied;
  std::set<int> blocked;
  std::vector<pending_apply> batch;
  const std::int64_t now = monotonic_ms();
  // In stream order. A flush erases only entries before this one, and look_for_gaps inserts only before it too,
  // so the iterator to the next entry stays valid.
  for (auto it = held_.begin(), next_it = it; it != held_.end(); it = next_it) {
    ++next_it;
    const std::string& id = it->first;
    held_entry& h = it->second;
    const int shard = h.entry.shard;
    if (blocked.count(shard)) continue;
    bool next = h.force || h.entry.prev == last[shard] || compare_stream_ids(id, last[shard]) <= 0;
    if (!next) {
      blocked.insert(shard);
      if (now - h.waiting_since_ms >= settings_.gap_after_ms) {
        h.waiting_since_ms = now;
        look_for_gaps(id, h);
      }
      continue;
    }
    auto reads = planner_.prepare(h.entry);
    std::vector<read_result> results;
    if (!reads.empty()) {
      // A merge reads what is stored, so everything before it must be written first.
      if (!flush(batch)) return false;
      auto r = store_.read(reads);
      if (!r) {
        log("cannot read the cache: " + store_.error());
        return false;
      }
      results = std::move(*r);
      // Another worker may have applied this one meanwhile; the apply script checks again.
    }
    cache_plan plan = planner_.plan(std::move(results));
    if (!plan.problem.empty()) {
      ++counters_.problems;
      log("shard " + std::to_string(shard) + ": entry " + id + " (" + h.entry.t + "): " + plan.problem + "; applied as a no-op");
    }
    batch.push_back(pending_apply{&h.entry, std::move(plan), !h.force});
    last[shard] = id;
    if (static_cast<int>(batch.size()) >= settings_.batch && !flush(batch)) return false;
  }
  return flush(batch);
}

}  // namespace g::cache
