// Time and memory of one root-cause analysis as the number of entities grows.
//
//   rca_scale_bench [entities=1000] [spans_per_minute_per_entity=10]
//
// Builds the frame an incident over `entities` services would load: 60
// reference minutes and 5 after the onset; per service 20 metric series and
// its spans (each service calls the next, so every one has edges), with one
// service slowed after the onset. Reports the time to build the series from
// the spans, to score and rank, the peak RSS growth, and whether the slowed
// service ranked first. Prints one summary line; see bench/README.md.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "collector/rca/analyzer.h"
#include "collector/rca/log_features.h"

namespace {

long PeakRssKiB() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace custos::rca;
  const int entities = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int spans_per_minute = argc > 2 ? std::atoi(argv[2]) : 10;
  const int culprit = entities / 2;
  const long rss0 = PeakRssKiB();
  auto t0 = std::chrono::steady_clock::now();
  SeriesFrame frame(0);
  CallGraph graph;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0, 1);
  constexpr int64_t kMs = 1'000'000;
  for (int b = -60; b <= 4; ++b) {
    const bool fault = b >= 0;
    std::vector<SpanRow> spans;
    spans.reserve(static_cast<size_t>(entities * spans_per_minute * 2));
    for (int e = 0; e < entities; ++e) {
      std::string svc = "svc-" + std::to_string(e), next = "svc-" + std::to_string((e + 1) % entities);
      for (int m = 0; m < 20; ++m)
        frame.Put(b, svc, "M|metric_" + std::to_string(m),
                  50 + noise(rng) + (fault && e == culprit && m == 0 ? 30 : 0));
      for (int i = 0; i < spans_per_minute; ++i) {
        int64_t t = int64_t{b} * 60'000 + i * 1000;
        auto own = static_cast<int64_t>(5 + std::fabs(noise(rng)) + (fault && e == culprit ? 40 : 0));
        std::string id = std::to_string(b) + "/" + std::to_string(e) + "/" + std::to_string(i);
        SpanRow server{svc, "Serve", "t", "s" + id, "", (t)*kMs, (t + own + 6) * kMs, false};
        SpanRow client{svc, "call " + next, "t", "c" + id, "s" + id, (t + own) * kMs, (t + own + 5) * kMs, false};
        SpanRow callee{next, "Serve", "t", "k" + id, "c" + id, (t + own + 1) * kMs, (t + own + 4) * kMs, false};
        spans.push_back(std::move(server));
        spans.push_back(std::move(client));
        spans.push_back(std::move(callee));
      }
    }
    frame.MarkSource(b, Source::kMetric);
    AddTraceBucket(b, spans, frame, b >= 0 && b <= 2 ? &graph : nullptr, nullptr);
  }
  AddShares(frame);
  auto t1 = std::chrono::steady_clock::now();
  RcaReport report = AnalyzeFrame(frame, graph, {});
  auto t2 = std::chrono::steady_clock::now();
  const long rss = PeakRssKiB() - rss0;
  const bool found = !report.candidates.empty() && report.candidates[0].entity == "svc-" + std::to_string(culprit);
  std::printf(
      "rca_scale_bench: %d entities, %zu series, %d spans/min each: build %.2f s, score+rank %.2f s, peak RSS +%ld "
      "MiB, "
      "slowed service ranked %s\n",
      entities, frame.series_count(), spans_per_minute * 3, std::chrono::duration<double>(t1 - t0).count(),
      std::chrono::duration<double>(t2 - t1).count(), rss / 1024, found ? "first" : "NOT first");
  return found ? 0 : 1;
}
