// tests/real: a multi-threaded C++17 program for run.sh (g++ -O2 -std=c++17
// -pthread).  Four threads build batches of strings, maps, vectors and
// shared_ptrs from fixed-seed PRNGs and hand them to each other through a
// mutex-protected queue, so most objects are freed by a thread other than the
// one that allocated them; some batches are shared by two consumers, and the
// last owner (whichever thread it is) frees them.  Every result is combined
// with commutative operations, so the printed output does not depend on the
// scheduling.
#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

constexpr int kThreads = 4;
constexpr int kBatchesPerThread = 600;

struct Rng {  // splitmix64
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return next() % n; }
};

uint64_t fnv(const std::string &s, uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

std::string word(Rng &r) {
  static const char *syll[] = {"ka", "ri", "to", "na", "mu", "se", "lo", "pe", "chi",
                               "ru", "an", "ve", "xo", "qu", "im", "dra", "fen", "gol"};
  std::string w;
  for (uint64_t n = 1 + r.below(5); n; n--) w += syll[r.below(18)];
  return w;
}

struct alignas(64) Cell {  // over-aligned: aligned operator new/delete
  uint64_t v[8];
};

struct Record {
  std::string name;
  std::vector<uint32_t> values;
  std::map<std::string, int> attrs;
  std::shared_ptr<const std::string> blob;  // shared between records
};

struct Batch {
  int producer, index;
  std::map<std::string, std::vector<std::string>> index_;  // word -> owners
  std::vector<std::unique_ptr<Record>> records;
  std::list<std::string> log;
  std::unique_ptr<Cell[]> cells;
  size_t ncells = 0;
  std::string big;  // sometimes > 1 MiB: large-object path
};

// Everything about a batch, as a number that does not depend on who reads it.
uint64_t digest(const Batch &b) {
  uint64_t h = 1469598103934665603ULL ^ (uint64_t)b.producer << 32 ^ (uint64_t)b.index;
  for (const auto &[k, owners] : b.index_) {
    h = fnv(k, h);
    for (const auto &o : owners) h = fnv(o, h);
  }
  for (const auto &r : b.records) {
    h = fnv(r->name, h);
    for (uint32_t v : r->values) h = (h ^ v) * 1099511628211ULL;
    for (const auto &[k, v] : r->attrs) h = fnv(k, h) + (uint64_t)v;
    h = fnv(*r->blob, h);
  }
  for (const auto &s : b.log) h = fnv(s, h);
  for (size_t i = 0; i < b.ncells; i++)
    for (uint64_t v : b.cells[i].v) h = (h ^ v) * 1099511628211ULL;
  return fnv(b.big, h);
}

std::shared_ptr<Batch> make_batch(int producer, int index) {
  Rng r(uint64_t(producer) * 1000003 + uint64_t(index) * 7919 + 42);
  auto b = std::make_shared<Batch>();
  b->producer = producer;
  b->index = index;
  int nrec = 20 + int(r.below(80));
  std::vector<std::shared_ptr<const std::string>> blobs;
  for (int i = 0; i < 4; i++)
    blobs.push_back(std::make_shared<const std::string>(size_t(1 + r.below(5000)), char('a' + i)));
  for (int i = 0; i < nrec; i++) {
    auto rec = std::make_unique<Record>();
    rec->name = word(r) + "-" + std::to_string(producer) + "-" + std::to_string(i);
    size_t nv = r.below(200);
    for (size_t j = 0; j < nv; j++) rec->values.push_back(uint32_t(r.next()));
    if (r.below(4) == 0) rec->values.shrink_to_fit();
    for (int j = int(r.below(10)); j > 0; j--) rec->attrs[word(r)] += int(r.below(1000));
    rec->blob = blobs[r.below(blobs.size())];
    b->index_[word(r)].push_back(rec->name);
    b->records.push_back(std::move(rec));
  }
  for (int i = int(r.below(50)); i > 0; i--) {
    std::string s;
    for (int j = int(r.below(40)); j > 0; j--) s += word(r);
    b->log.push_back(std::move(s));
  }
  b->ncells = size_t(r.below(100));
  b->cells.reset(new Cell[b->ncells]);
  for (size_t i = 0; i < b->ncells; i++)
    for (auto &v : b->cells[i].v) v = r.next();
  uint64_t bigsize = r.below(10) == 0 ? 1 + r.below(3 << 20) : r.below(70000);
  b->big.reserve(bigsize / 2);  // then grow: realloc-like copies
  while (b->big.size() < bigsize) b->big += word(r);
  return b;
}

// A mutex-protected queue of batches: the handover between threads.
class Queue {
 public:
  void push(std::shared_ptr<Batch> b) {
    {
      std::lock_guard<std::mutex> g(m_);
      q_.push_back(std::move(b));
    }
    cv_.notify_one();
  }
  // Empty pointer if the queue is empty right now.
  std::shared_ptr<Batch> try_pop() {
    std::lock_guard<std::mutex> g(m_);
    if (q_.empty()) return nullptr;
    auto b = std::move(q_.front());
    q_.pop_front();
    return b;
  }
  // Waits; empty pointer once every producer is done and the queue is drained.
  std::shared_ptr<Batch> pop() {
    std::unique_lock<std::mutex> g(m_);
    cv_.wait(g, [&] { return !q_.empty() || producers_ == 0; });
    if (q_.empty()) return nullptr;
    auto b = std::move(q_.front());
    q_.pop_front();
    return b;
  }
  void producer_done() {
    {
      std::lock_guard<std::mutex> g(m_);
      producers_--;
    }
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Batch>> q_;
  int producers_ = kThreads;
};

struct Totals {  // per thread, merged at the end
  uint64_t sum = 0, x = 0, batches = 0, records = 0, bytes = 0;
  std::unordered_map<std::string, uint64_t> words;
};

void worker(int id, Queue &q, Totals &t) {
  Rng r(uint64_t(id) + 99);
  std::vector<std::shared_ptr<Batch>> held;  // consumed later, out of order
  auto consume = [&](std::shared_ptr<Batch> b) {
    uint64_t d = digest(*b);
    t.sum += d;
    t.x ^= d;
    t.batches++;
    t.records += b->records.size();
    t.bytes += b->big.size();
    for (const auto &[k, owners] : b->index_) t.words[k] += owners.size();
    // b may be the last reference: the batch is freed here, on this thread
  };
  for (int i = 0; i < kBatchesPerThread; i++) {
    auto b = make_batch(id, i);
    if (i % 5 == 0) q.push(b);  // shared: pushed twice, freed by the last one
    q.push(std::move(b));
    // consume about as much as we produce; keep a few back for later
    if (auto c = q.try_pop()) {
      if (r.below(3) == 0) held.push_back(std::move(c));
      else consume(std::move(c));
    }
    if (held.size() > 16) {
      std::swap(held[r.below(held.size())], held.back());
      consume(std::move(held.back()));
      held.pop_back();
    }
  }
  q.producer_done();
  for (auto &b : held) consume(std::move(b));
  held.clear();
  while (auto b = q.pop()) consume(std::move(b));
}

}  // namespace

int main() {
  Queue q;
  std::array<Totals, kThreads> totals;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; i++) threads.emplace_back(worker, i, std::ref(q), std::ref(totals[i]));
  for (auto &t : threads) t.join();

  Totals all;
  std::map<std::string, uint64_t> words;  // ordered: printable
  for (auto &t : totals) {
    all.sum += t.sum;
    all.x ^= t.x;
    all.batches += t.batches;
    all.records += t.records;
    all.bytes += t.bytes;
    for (auto &[k, v] : t.words) words[k] += v;
    t.words.clear();
  }
  std::printf("batches %llu (each of %d produced, 1 in 5 consumed twice)\n",
              (unsigned long long)all.batches, kThreads * kBatchesPerThread);
  std::printf("records %llu\n", (unsigned long long)all.records);
  std::printf("big bytes %llu\n", (unsigned long long)all.bytes);
  std::printf("digest sum %016llx xor %016llx\n", (unsigned long long)all.sum, (unsigned long long)all.x);
  std::printf("distinct words %zu\n", words.size());
  std::vector<std::pair<uint64_t, std::string>> top;
  for (auto &[k, v] : words) top.emplace_back(v, k);
  std::sort(top.begin(), top.end(), [](auto &a, auto &b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  for (size_t i = 0; i < 10 && i < top.size(); i++)
    std::printf("  %-16s %llu\n", top[i].second.c_str(), (unsigned long long)top[i].first);

  // A single-threaded tail: a set and an unordered_map rebuilt many times.
  Rng r(7);
  uint64_t h = 0;
  for (int round = 0; round < 50; round++) {
    std::set<std::string> s;
    std::unordered_map<uint64_t, std::string> um;
    for (int i = 0; i < 5000; i++) {
      s.insert(word(r));
      um[r.below(3000)] += word(r);
    }
    for (auto &w : s) h = fnv(w, h);
    std::vector<std::pair<uint64_t, std::string>> v(um.begin(), um.end());
    std::sort(v.begin(), v.end());
    for (auto &[k, w] : v) h = fnv(w, h ^ k);
  }
  std::printf("tail %016llx\n", (unsigned long long)h);
  return 0;
}
