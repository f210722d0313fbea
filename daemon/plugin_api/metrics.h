// Metrics in the Prometheus data model. Components register collectors with the registry the
// daemon offers ("metrics" in the service registry); the monitor plugin renders them at /metrics.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sg {

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
  std::string suffix;  // "", or for histograms "_bucket", "_sum", "_count"
  Labels labels;
  double value = 0;
};

struct MetricFamily {
  std::string name;  // streamgate_..., base units, _total for counters
  std::string help;
  std::string type;  // "counter", "gauge" or "histogram"
  std::vector<Sample> samples;
};

/// Thread-safe. A collector is called at every scrape, from the scraping thread; it must be
/// quick and must not call back into the registry.
class MetricsRegistry {
 public:
  using Collector = std::function<void(std::vector<MetricFamily>& out)>;

  int Add(Collector collector);
  void Remove(int id);
  /// Every family from every collector, families of the same name merged.
  std::vector<MetricFamily> Collect() const;

 private:
  mutable std::mutex mu_;
  std::map<int, Collector> collectors_;  // guarded by mu_
  int next_ = 1;                         // guarded by mu_
};

/// The Prometheus text exposition format, version 0.0.4.
std::string RenderPrometheus(const std::vector<MetricFamily>& families);

/// Appends a histogram's samples (cumulative buckets with "le", then _sum and _count).
void AddHistogram(MetricFamily& family, const Labels& labels, const std::vector<double>& bounds,
                  const std::vector<uint64_t>& cumulative_buckets, double sum, uint64_t count);

}  // namespace sg
