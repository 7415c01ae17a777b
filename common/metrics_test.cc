#include "common/metrics.h"

#include <gtest/gtest.h>

#include <thread>

namespace custos {
namespace {

TEST(MetricsTest, SameSeriesIsSameObject) {
  MetricsRegistry r;
  Counter& a = r.GetCounter("x_total", "help", {{"reason", "a"}});
  Counter& a2 = r.GetCounter("x_total", "help", {{"reason", "a"}});
  Counter& b = r.GetCounter("x_total", "help", {{"reason", "b"}});
  EXPECT_EQ(&a, &a2);
  EXPECT_NE(&a, &b);
  a.Increment(3);
  b.Increment();
  EXPECT_EQ(r.Value("x_total", {{"reason", "a"}}), 3);
  EXPECT_EQ(r.Value("x_total", {{"reason", "b"}}), 1);
  EXPECT_EQ(r.Value("missing"), 0);
}

TEST(MetricsTest, PrometheusText) {
  MetricsRegistry r;
  r.GetCounter("custos_records_total", "Records stored").Increment(7);
  r.GetGauge("custos_spool_bytes", "Spool size").Set(42);
  r.GetCounter("custos_refused_total", "Refused", {{"reason", "say \"hi\""}}).Increment();
  std::string text = r.RenderPrometheus();
  EXPECT_NE(text.find("# TYPE custos_records_total counter\ncustos_records_total 7\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE custos_spool_bytes gauge\ncustos_spool_bytes 42\n"), std::string::npos);
  EXPECT_NE(text.find("custos_refused_total{reason=\"say \\\"hi\\\"\"} 1"), std::string::npos);
}

TEST(MetricsTest, ConcurrentIncrementsAreCounted) {
  MetricsRegistry r;
  Counter& c = r.GetCounter("c_total", "c");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) c.Increment();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000u);
}

}  // namespace
}  // namespace custos
