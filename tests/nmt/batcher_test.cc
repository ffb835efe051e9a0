// The dynamic batcher against direct decoding: same results per sentence whatever the batching,
// each request's own results in order, the wait bound, the queue bound, draining and stopping.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <random>
#include <thread>

#include "keel/nmt/batcher.h"
#include "keel/nmt/model.h"

using namespace keel::nmt;

namespace {

Ids random_source(std::mt19937& gen) {
  std::uniform_int_distribution<int> len(1, 12), tok(4, 49);
  Ids ids;
  for (int n = len(gen), i = 0; i < n; ++i) ids.push_back(static_cast<std::uint32_t>(tok(gen)));
  ids.push_back(2);  // EOS
  return ids;
}

struct Fixture {
  Transformer model{random_model(preset_config(Preset::tiny), 5), Compute::fp32};
  DecodeOptions decode;
  Fixture() { decode.max_length = 20; }
  Ids alone(const Ids& src, const DecodeOptions& d) const { return model.decode({src}, d)[0]; }
};

}  // namespace

TEST(Batcher, ConcurrentRequestsGetTheirOwnResultsInOrder) {
  Fixture f;
  BatcherOptions o;
  o.streams = 2;
  o.max_batch_size = 8;
  o.max_wait = std::chrono::milliseconds(2);
  o.pin_cores = false;
  std::size_t batches = 0, sentences = 0;
  std::mutex mu;
  Batcher b(f.model, o, [&](const BatchInfo& info) {
    std::lock_guard lock(mu);
    ++batches;
    sentences += info.sentences;
    EXPECT_LE(info.sentences, 8u);
  });
  constexpr int kClients = 12, kPerClient = 5;
  std::vector<std::thread> clients;
  std::vector<std::string> failures(kClients);
  for (int c = 0; c < kClients; ++c)
    clients.emplace_back([&, c] {
      std::mt19937 gen(static_cast<unsigned>(c));
      for (int r = 0; r < 3; ++r) {
        std::vector<Ids> srcs;
        for (int i = 0; i < kPerClient; ++i) srcs.push_back(random_source(gen));
        auto fut = b.submit(srcs, f.decode);
        if (!fut) {
          failures[c] = "refused";
          return;
        }
        const auto got = fut->result.get();
        // Batched with other requests' sentences, each result is what decoding it alone gives.
        for (int i = 0; i < kPerClient; ++i)
          if (got.at(static_cast<std::size_t>(i)) != f.alone(srcs[static_cast<std::size_t>(i)], f.decode))
            failures[c] = "sentence " + std::to_string(i) + " differs";
      }
    });
  for (auto& t : clients) t.join();
  for (int c = 0; c < kClients; ++c) EXPECT_EQ(failures[c], "") << "client " << c;
  EXPECT_EQ(sentences, std::size_t{kClients * kPerClient * 3});
  EXPECT_LT(batches, sentences);  // sentences from different requests shared batches
}

TEST(Batcher, DifferentDecodingOptionsNeverShareABatch) {
  Fixture f;
  BatcherOptions o;
  o.streams = 1;
  o.max_wait = std::chrono::milliseconds(20);
  o.pin_cores = false;
  std::vector<std::size_t> sizes;
  Batcher b(f.model, o, [&](const BatchInfo& info) { sizes.push_back(info.sentences); });
  std::mt19937 gen(3);
  std::vector<Ids> a{random_source(gen), random_source(gen)}, c{random_source(gen)};
  DecodeOptions beam = f.decode;
  beam.beam_size = 3;
  auto fa = b.submit(a, f.decode);
  auto fc = b.submit(c, beam);
  ASSERT_TRUE(fa && fc);
  const auto ra = fa->result.get(), rc = fc->result.get();
  EXPECT_EQ(ra[0], f.alone(a[0], f.decode));
  EXPECT_EQ(ra[1], f.alone(a[1], f.decode));
  EXPECT_EQ(rc[0], f.alone(c[0], beam));
  b.stop();
  EXPECT_EQ(sizes.size(), 2u);  // one batch per decoding setting
}

TEST(Batcher, AFullBatchStartsWithoutWaitingAndALoneSentenceWaitsAtMostMaxWait) {
  Fixture f;
  BatcherOptions o;
  o.streams = 1;
  o.max_batch_size = 4;
  o.pin_cores = false;
  std::mt19937 gen(9);
  {
    o.max_wait = std::chrono::seconds(3600);  // only a full batch can start
    Batcher b(f.model, o);
    std::vector<Ids> four;
    for (int i = 0; i < 4; ++i) four.push_back(random_source(gen));
    auto fut = b.submit(four, f.decode);
    ASSERT_TRUE(fut);
    EXPECT_EQ(fut->result.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  }
  {
    o.max_wait = std::chrono::milliseconds(50);
    Batcher b(f.model, o);
    const auto t0 = std::chrono::steady_clock::now();
    auto fut = b.submit({random_source(gen)}, f.decode);
    ASSERT_TRUE(fut);
    fut->result.get();
    const auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(waited, std::chrono::milliseconds(50));  // it waited for company
    EXPECT_LT(waited, std::chrono::seconds(30));       // and then ran alone
  }
}

TEST(Batcher, RefusesWhatTheQueueCannotHoldAndDrainsOnStop) {
  Fixture f;
  BatcherOptions o;
  o.streams = 1;
  o.max_queue = 3;
  o.max_batch_size = 16;
  o.max_wait = std::chrono::seconds(3600);
  o.pin_cores = false;
  Batcher b(f.model, o);
  std::mt19937 gen(4);
  auto first = b.submit({random_source(gen), random_source(gen)}, f.decode);
  ASSERT_TRUE(first);
  EXPECT_EQ(b.queued(), 2u);
  EXPECT_FALSE(b.submit({random_source(gen), random_source(gen)}, f.decode));  // 4 > 3
  auto second = b.submit({random_source(gen)}, f.decode);                      // 3 fits
  ASSERT_TRUE(second);
  EXPECT_EQ(first->result.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  b.drain();  // no more waiting for a full batch
  EXPECT_EQ(first->result.get().size(), 2u);
  EXPECT_EQ(second->result.get().size(), 1u);
  b.stop();
  EXPECT_FALSE(b.submit({random_source(gen)}, f.decode));  // stopped: refused
}

TEST(Batcher, StopDecodesEverythingQueued) {
  Fixture f;
  BatcherOptions o;
  o.streams = 2;
  o.max_wait = std::chrono::seconds(3600);
  o.pin_cores = false;
  Batcher b(f.model, o);
  std::mt19937 gen(8);
  std::vector<Ids> srcs;
  for (int i = 0; i < 5; ++i) srcs.push_back(random_source(gen));
  auto fut = b.submit(srcs, f.decode);
  ASSERT_TRUE(fut);
  b.stop();
  const auto got = fut->result.get();
  for (std::size_t i = 0; i < srcs.size(); ++i) EXPECT_EQ(got[i], f.alone(srcs[i], f.decode));
}

TEST(Batcher, ACancelledRequestIsNeverDecodedAndOthersAreUntouched) {
  Fixture f;
  BatcherOptions o;
  o.streams = 1;
  o.max_wait = std::chrono::seconds(3600);
  o.pin_cores = false;
  std::size_t decoded = 0;
  Batcher b(f.model, o, [&](const BatchInfo& info) { decoded += info.sentences; });
  std::mt19937 gen(12);
  const std::vector<Ids> keep{random_source(gen)};
  auto gone = b.submit({random_source(gen), random_source(gen), random_source(gen)}, f.decode);
  auto stays = b.submit(keep, f.decode);
  ASSERT_TRUE(gone && stays);
  EXPECT_EQ(b.queued(), 4u);
  b.cancel(*gone);
  EXPECT_EQ(b.queued(), 1u);
  EXPECT_THROW(gone->result.get(), Cancelled);
  b.drain();
  EXPECT_EQ(stays->result.get()[0], f.alone(keep[0], f.decode));
  b.stop();
  EXPECT_EQ(decoded, 1u);  // the cancelled sentences cost nothing
  b.cancel(*stays);        // answered already: no effect
}
