// cxx_workload — a C++17 allocation workload for bench/run.sh (row "cxx").
//
// Two threads run the same kind of work on their own data, and hand
// messages to each other, so some blocks are freed by the thread that did
// not allocate them. Each of ROUNDS rounds, per thread:
//   - an std::unordered_map<std::string, Record> of KEYS entries; a Record
//     holds a short name (inside the small-string buffer or just past it),
//     a std::vector<uint32_t> grown by push_back, and a std::shared_ptr to a
//     shared Tag (reference counts bumped and dropped across the map);
//   - an std::map<std::string, std::vector<std::string>> index from words to
//     record keys, built, walked in order, and half erased;
//   - a vector of std::shared_ptr<Node> lists (a linked structure of
//     shared_ptr) built and dropped;
//   - half of the unordered_map erased and refilled with new keys;
//   - a batch of std::shared_ptr<const Message> (a std::string and a
//     std::vector) pushed to the other thread's mailbox and the batch the
//     other thread sent consumed and dropped here.
//
// usage: bench_cxx_sys [ROUNDS=12] [KEYS=60000]
// prints: cxx threads=2 rounds=... keys=... checksum=<16 hex digits>
// The checksum comes from the contents only (never addresses, never the
// interleaving of the threads), so it is the same under every allocator.
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9e3779b97f4a7c15ULL + 1) {}
    uint64_t next()
    {
        uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    uint32_t below(uint32_t n) { return (uint32_t)(next() % n); }
};

uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdULL;
}

uint64_t mix_str(uint64_t h, const std::string &s)
{
    for (unsigned char c : s)
        h = (h ^ c) * 0x100000001b3ULL;
    return mix(h, s.size());
}

const char *const kWords[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta",
                              "kappa", "lambda", "sigma", "omega", "buffer", "cache", "arena",
                              "span", "heap", "page", "node", "table", "queue", "slot", "index"};
constexpr uint32_t kNWords = sizeof kWords / sizeof kWords[0];

struct Tag {
    std::string label;
    uint32_t weight;
};

struct Record {
    std::string name;
    std::vector<uint32_t> values;
    std::shared_ptr<Tag> tag;
};

struct Node {
    uint64_t value;
    std::shared_ptr<Node> next;
};

struct Message {
    std::string text;
    std::vector<uint64_t> payload;
};
using MessagePtr = std::shared_ptr<const Message>;

// One mailbox per thread: batches of messages sent to it by the other one.
struct Mailbox {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::vector<MessagePtr>> batches;
};

std::string key_of(Rng &rng, uint32_t id)
{
    char buf[48];
    // 8..30 characters: some fit the small-string buffer (15), some do not
    int n = std::snprintf(buf, sizeof buf, "%s-%u", kWords[rng.below(kNWords)], id);
    std::string s(buf, (size_t)n);
    s.append(rng.below(16), (char)('a' + id % 26));
    return s;
}

std::string word_of(Rng &rng)
{
    std::string w = kWords[rng.below(kNWords)];
    w += '_';
    w += kWords[rng.below(kNWords)];
    return w;
}

// Drops a shared_ptr list iteratively (a long chain would recurse deeply).
void drop_list(std::shared_ptr<Node> &head)
{
    while (head && head.use_count() == 1) {
        std::shared_ptr<Node> next = std::move(head->next);
        head = std::move(next);
    }
    head.reset();
}

uint64_t worker(int id, int rounds, uint32_t keys, Mailbox &mine, Mailbox &theirs)
{
    Rng rng(1000 + (uint64_t)id);
    uint64_t h = 0x1234 + (uint64_t)id;
    uint32_t next_id = 0;

    std::vector<std::shared_ptr<Tag>> tags;
    for (uint32_t i = 0; i < 64; i++)
        tags.push_back(std::make_shared<Tag>(Tag{word_of(rng) + "/" + std::to_string(i), i}));

    for (int r = 0; r < rounds; r++) {
        // unordered_map<string, Record> with vectors growing by push_back
        std::unordered_map<std::string, Record> records;
        std::vector<std::string> live_keys;
        live_keys.reserve(keys);
        for (uint32_t i = 0; i < keys; i++) {
            std::string k = key_of(rng, next_id++);
            Record rec;
            rec.name = word_of(rng);
            uint32_t nv = rng.below(24);
            for (uint32_t v = 0; v < nv; v++)
                rec.values.push_back(rng.below(1000000));
            rec.tag = tags[rng.below((uint32_t)tags.size())];
            live_keys.push_back(k);
            records.emplace(std::move(k), std::move(rec));
        }

        // map<string, vector<string>>: an ordered index, walked and half erased
        std::map<std::string, std::vector<std::string>> index;
        for (const auto &kv : records)
            index[kv.second.name].push_back(kv.first.substr(0, 12));
        for (auto &kv : index) {
            h = mix_str(h, kv.first);
            h = mix(h, kv.second.size());
        }
        for (auto it = index.begin(); it != index.end();) {
            if (it->second.size() % 2 == 0)
                it = index.erase(it);
            else
                ++it;
        }
        h = mix(h, index.size());

        // shared_ptr lists
        std::vector<std::shared_ptr<Node>> lists(256);
        for (uint32_t i = 0; i < keys; i++) {
            auto &head = lists[rng.below(256)];
            head = std::make_shared<Node>(Node{i, std::move(head)});
        }
        std::vector<std::shared_ptr<Node>> copies(lists.begin(), lists.begin() + 64);
        for (auto &l : lists) {
            uint64_t s = 0;
            for (Node *n = l.get(); n != nullptr; n = n->next.get())
                s += n->value;
            h = mix(h, s);
            drop_list(l);
        }
        for (auto &l : copies)
            drop_list(l);

        // erase half of the records, refill with new keys
        for (uint32_t i = 0; i < keys; i += 2) {
            auto it = records.find(live_keys[i]);
            h = mix(h, it->second.values.size());
            records.erase(it);
        }
        for (uint32_t i = 0; i < keys / 2; i++) {
            Record rec;
            rec.name = key_of(rng, next_id++);
            rec.values.assign(rng.below(40), i);
            rec.tag = tags[i % tags.size()];
            records.emplace(key_of(rng, next_id++), std::move(rec));
        }
        uint64_t sum = 0, weights = 0;
        for (const auto &kv : records) {
            for (uint32_t v : kv.second.values)
                sum += v;
            weights += kv.second.tag->weight;
        }
        h = mix(mix(h, sum), weights);
        h = mix(h, records.size());

        // messages to the other thread; theirs consumed here
        std::vector<MessagePtr> batch;
        for (uint32_t i = 0; i < keys / 4; i++) {
            auto m = std::make_shared<Message>();
            m->text = word_of(rng) + ":" + std::to_string(r) + ":" + std::to_string(i);
            m->payload.assign(1 + rng.below(12), (uint64_t)i * 31 + (uint64_t)r);
            batch.push_back(std::move(m));
        }
        {
            std::lock_guard<std::mutex> lock(theirs.mu);
            theirs.batches.push_back(std::move(batch));
        }
        theirs.cv.notify_one();
        std::vector<MessagePtr> got;
        {
            std::unique_lock<std::mutex> lock(mine.mu);
            mine.cv.wait(lock, [&] { return !mine.batches.empty(); });
            got = std::move(mine.batches.front());
            mine.batches.pop_front();
        }
        for (const auto &m : got) {
            h = mix_str(h, m->text);
            h = mix(h, m->payload.size() + m->payload.back());
        }
    }
    return h;
}

} // namespace

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? std::atoi(argv[1]) : 12;
    long keys = argc > 2 ? std::atol(argv[2]) : 60000;
    if (rounds < 1 || keys < 16 || keys > 100000000) {
        std::fprintf(stderr, "usage: %s [ROUNDS>=1] [KEYS>=16]\n", argv[0]);
        return 2;
    }
    Mailbox box[2];
    uint64_t result[2] = {0, 0};
    std::thread other([&] { result[1] = worker(1, rounds, (uint32_t)keys, box[1], box[0]); });
    result[0] = worker(0, rounds, (uint32_t)keys, box[0], box[1]);
    other.join();
    std::printf("cxx threads=2 rounds=%d keys=%ld checksum=%016llx\n", rounds, keys,
                (unsigned long long)mix(result[0], result[1]));
    return 0;
}
