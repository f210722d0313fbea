// Metrics in the Prometheus data model. Components register collectors with the registry the
// daemon offers ("metrics" in the service registry); the monitor plugin renders them at /metrics.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
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
/// quick and must not call back into the registry. Each plugin sees the registry through a view
/// of its own (ForOwner): while a plugin is not running its collectors are left out, so a stopped
/// plugin's series leave /metrics, and come back when it runs.
class MetricsRegistry {
 public:
  using Collector = std::function<void(std::vector<MetricFamily>& out)>;
  /// Hears of each Add (true) and Remove (false) made through a view, with the collector's id.
  using Observer = std::function<void(int id, bool added)>;

  MetricsRegistry() : state_(std::make_shared<State>()) {}

  /// The same registry as seen by `owner`: what it Adds is owned by it; `observer`, when set,
  /// hears of what is added and removed through this view (the kernel's bookkeeping).
  std::shared_ptr<MetricsRegistry> ForOwner(std::string owner, Observer observer = {}) const;

  int Add(Collector collector);
  /// Removes a collector by id, whoever added it; an unknown id is ignored.
  void Remove(int id);
  /// Every family from every collector of a running owner, families of the same name merged.
  std::vector<MetricFamily> Collect() const;

  /// `owner` is not running: its collectors are left out until Resume.
  void Suspend(const std::string& owner);
  void Resume(const std::string& owner);
  /// Collectors `owner` added and has not removed.
  size_t Count(const std::string& owner) const;

 private:
  struct Entry {
    Collector collector;
    std::string owner;  // "" for the daemon
  };
  struct State {
    std::mutex mu;
    std::map<int, Entry> collectors;  // guarded by mu
    std::set<std::string> suspended;  // guarded by mu
    int next = 1;                     // guarded by mu
  };
  MetricsRegistry(std::shared_ptr<State> state, std::string owner, Observer observer)
      : state_(std::move(state)), owner_(std::move(owner)), observer_(std::move(observer)) {}

  std::shared_ptr<State> state_;
  std::string owner_;
  Observer observer_;
};

/// The Prometheus text exposition format, version 0.0.4.
std::string RenderPrometheus(const std::vector<MetricFamily>& families);

/// Appends a family of one unlabelled sample: a plain counter or gauge.
void AddValue(std::vector<MetricFamily>& out, std::string name, std::string help, std::string type,
              double value);

/// Appends a histogram's samples (cumulative buckets with "le", then _sum and _count).
void AddHistogram(MetricFamily& family, const Labels& labels, const std::vector<double>& bounds,
                  const std::vector<uint64_t>& cumulative_buckets, double sum, uint64_t count);

}  // namespace sg
