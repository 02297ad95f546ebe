#include "cache/cache_worker.hpp"
#include "net/log.hpp"

#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "cache/pending_writes.hpp"

namespace g::cache {

namespace {

// A reshard marker's `previous`: each old shard's last entry, all of which must be applied before the marker.
std::map<int, std::string> marker_previous(const std::string& d) {
  static thread_local simdjson::dom::parser p;
  std::map<int, std::string> out;
  simdjson::dom::object previous;
  if (p.parse(d).get_object()["previous"].get_object().get(previous) != simdjson::SUCCESS) return out;
  for (auto [shard, id] : previous) {
    std::string_view v;
    if (id.get_string().get(v) == simdjson::SUCCESS) out[std::atoi(std::string(shard).c_str())] = std::string(v);
  }
  return out;
}

}  // namespace

std::int64_t monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

cache_worker::cache_worker(cache_store& store, event_planner& planner, worker_settings settings, std::string name)
    : store_(store), planner_(planner), settings_(settings), name_(std::move(name)) {}

void cache_worker::log(const std::string& what) const { LOG_WARN("%s", what.c_str()); }

net::store_result<> cache_worker::take(cache_store::entries entries, bool claimed) {
  if (!entries.ok()) return net::store_result<>::failed("reading the stream: " + entries.reason);
  std::int64_t now = monotonic_ms();
  for (auto& e : entries.value) {
    if (claimed && !held_.count(e.id)) ++counters_.claimed;
    std::string id = e.id;
    held_.try_emplace(std::move(id), held_entry{std::move(e), now, false});
  }
  return net::store_result<>::done();
}

net::store_result<> cache_worker::step() {
  if (!started_) {
    // Entries this consumer held before a restart under the same name come first.
    if (auto r = take(store_.read_own_pending(settings_.batch * 4), false); !r.ok()) return r;
    started_ = true;
  }
  std::int64_t now = monotonic_ms();
  if (now - last_claim_ms_ >= 1000) {
    last_claim_ms_ = now;
    if (auto r = take(store_.claim_idle(settings_.claim_idle_ms, settings_.batch), true); !r.ok()) return r;
  }
  // Wait for new entries when nothing is held; when the last round applied something, more may be ready at once
  // (no wait); else the held entries wait for other workers (a short one).
  int block_ms = held_.empty() ? 500 : progressed_ ? 0 : 5;
  if (auto r = take(store_.read_new(settings_.batch, block_ms), false); !r.ok()) return r;
  const std::uint64_t applied_before = counters_.applied + counters_.duplicates;
  auto applied = apply_ready();
  progressed_ = counters_.applied + counters_.duplicates != applied_before;
  return applied;
}

net::store_result<> cache_worker::flush(std::vector<pending_apply>& batch) {
  if (batch.empty()) return net::store_result<>::done();
  auto outcomes = store_.apply(batch);
  for (std::size_t i = 0; i < outcomes.value.size(); ++i) {
    std::string id = batch[i].entry->id;  // a copy: erasing the entry frees the original
    switch (outcomes.value[i]) {
      case apply_outcome::applied:
        ++counters_.applied;
        held_.erase(id);
        break;
      case apply_outcome::duplicate:
        ++counters_.duplicates;
        held_.erase(id);
        break;
      case apply_outcome::not_next: break;  // another worker moved the shard meanwhile: retried next step
      case apply_outcome::failed: break;    // still held and pending: applied on a later step
    }
  }
  batch.clear();
  if (!outcomes.ok()) return net::store_result<>::failed("applying: " + outcomes.reason);
  return net::store_result<>::done();
}

// A predecessor not applied yet: held by another worker (wait; a dead one's entries are claimed), still in the
// stream but held by nobody (take it), or trimmed away (true: a gap, to be applied without it, loudly).
bool cache_worker::predecessor_gone(const std::string& prev) {
  if (held_.count(prev)) return false;
  // Any read unanswered: not known to be gone, so not a gap (asked again on a later round).
  auto pending = store_.pending(prev);
  if (!pending.ok() || pending.value) return false;
  auto e = store_.fetch(prev);
  if (!e.ok()) return false;
  if (e.value) {
    std::string pid = e.value->id;
    held_.try_emplace(std::move(pid), held_entry{std::move(*e.value), monotonic_ms(), false});
    return false;
  }
  auto in_stream = store_.in_stream(prev);
  return in_stream.ok() && !in_stream.value;
}

void cache_worker::look_for_gaps(const std::string& id, held_entry& h) {
  if (!predecessor_gone(h.entry.prev)) return;
  h.force = true;
  ++counters_.gaps;
  log("shard " + std::to_string(h.entry.shard) + ": entry " + id + " follows " + h.entry.prev +
      ", which is no longer in the stream; applied without it (the shard's cache may miss changes until its next READY)");
}

net::store_result<> cache_worker::apply_ready() {
  if (held_.empty()) return net::store_result<>::done();
  std::set<int> shards;
  std::map<std::string, std::map<int, std::string>> markers;  // a held reshard marker's predecessors
  for (auto& [id, h] : held_) {
    shards.insert(h.entry.shard);
    if (h.entry.t == "G_RESHARD") {
      auto& previous = markers[id] = marker_previous(h.entry.d);
      for (auto& [shard, last] : previous) shards.insert(shard);
    }
  }
  auto applied = store_.applied_ids({shards.begin(), shards.end()});
  if (!applied.ok()) return net::store_result<>::failed("reading cache:applied_id: " + applied.reason);
  std::map<int, std::string>& last = applied.value;

  // The entries that are next, in stream order, at most a batch. One that reads nothing is planned at once; one
  // that reads is planned once the batch's values are in (and parsed again then: cheaper than a round trip).
  struct ready_entry {
    held_entry* held;
    std::vector<read_request> reads;
    std::size_t first_result;  // its reads' place in the batch's one read
    cache_plan plan;           // planned already when it reads nothing
  };
  std::vector<ready_entry> ready;
  std::vector<read_request> all_reads;
  std::set<int> blocked;
  const std::int64_t now = monotonic_ms();
  // look_for_gaps inserts only entries before this one: the iterator to the next stays valid.
  for (auto it = held_.begin(); it != held_.end() && static_cast<int>(ready.size()) < settings_.batch; ++it) {
    const std::string& id = it->first;
    held_entry& h = it->second;
    const int shard = h.entry.shard;
    if (blocked.count(shard)) continue;
    bool next = h.force || h.entry.prev == last[shard] || compare_stream_ids(id, last[shard]) <= 0;
    if (auto m = markers.find(id); m != markers.end()) {
      // The marker goes after every old shard's last entry (whichever workers hold those; one trimmed away is
      // waited for no longer), and then for all.
      std::vector<std::string> missing;
      for (auto& [old, before] : m->second)
        if (compare_stream_ids(last[old], before) < 0 || blocked.count(old)) missing.push_back(before);
      next = h.force || missing.empty();
      if (!next && now - h.waiting_since_ms >= settings_.gap_after_ms) {
        h.waiting_since_ms = now;
        if (std::all_of(missing.begin(), missing.end(), [&](const std::string& p) { return predecessor_gone(p); })) {
          ++counters_.gaps;
          log("reshard marker " + id + ": entries of the old shards before it are no longer in the stream; applied without them");
          next = true;
        }
      }
      h.force = next;
      if (!next) {
        blocked.insert(shard);
        continue;
      }
    }
    if (!next) {
      blocked.insert(shard);
      if (now - h.waiting_since_ms >= settings_.gap_after_ms) {
        h.waiting_since_ms = now;
        look_for_gaps(id, h);
      }
      continue;
    }
    auto reads = planner_.prepare(h.entry);
    ready.push_back({&h, reads, all_reads.size(), reads.empty() ? planner_.plan({}) : cache_plan{}});
    all_reads.insert(all_reads.end(), reads.begin(), reads.end());
    last[shard] = id;
  }
  if (ready.empty()) return net::store_result<>::done();

  // One read for the whole batch: the values before it. Each entry then sees them with the writes of the
  // entries planned before it laid over (pending_writes), as if those were already applied.
  std::vector<read_result> before;
  if (!all_reads.empty()) {
    auto r = store_.read(all_reads);
    if (!r.ok()) return net::store_result<>::failed("reading the cache: " + r.reason);
    before = std::move(r.value);
  }
  pending_writes written(store_.keys());
  std::vector<pending_apply> batch;
  for (ready_entry& re : ready) {
    held_entry& h = *re.held;
    cache_plan plan = std::move(re.plan);
    if (!re.reads.empty()) {
      std::vector<read_result> results;
      planner_.prepare(h.entry);
      for (std::size_t i = 0; i < re.reads.size(); ++i) {
        auto resolved = written.resolve(re.reads[i], before[re.first_result + i]);
        if (!resolved) break;
        results.push_back(std::move(*resolved));
      }
      if (results.size() != re.reads.size()) {
        // The writes cannot answer (a shard's guild set after guilds moved): write what is planned, read again.
        if (auto f = flush(batch); !f.ok()) return f;
        auto r = store_.read(re.reads);
        if (!r.ok()) return net::store_result<>::failed("reading the cache: " + r.reason);
        results = std::move(r.value);
      }
      plan = planner_.plan(std::move(results));
    }
    if (!plan.problem.empty()) {
      ++counters_.problems;
      log("shard " + std::to_string(h.entry.shard) + ": entry " + h.entry.id + " (" + h.entry.t + "): " + plan.problem +
          "; applied as a no-op");
    }
    written.record(plan);
    batch.push_back(pending_apply{&h.entry, std::move(plan), !h.force});
  }
  return flush(batch);
}

}  // namespace g::cache
