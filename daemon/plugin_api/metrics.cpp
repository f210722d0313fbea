#include "daemon/plugin_api/metrics.h"

#include <cmath>

#include <fmt/format.h>

namespace sg {
namespace {

std::string EscapeLabel(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{:.0f}", v);
  return fmt::format("{}", v);
}

}  // namespace

std::shared_ptr<MetricsRegistry> MetricsRegistry::ForOwner(std::string owner,
                                                           Observer observer) const {
  return std::shared_ptr<MetricsRegistry>(
      new MetricsRegistry(state_, std::move(owner), std::move(observer)));
}

int MetricsRegistry::Add(Collector collector) {
  int id = 0;
  {
    std::lock_guard lock(state_->mu);
    id = state_->next++;
    state_->collectors.emplace(id, Entry{std::move(collector), owner_});
  }
  if (observer_) observer_(id, true);
  return id;
}

void MetricsRegistry::Remove(int id) {
  {
    std::lock_guard lock(state_->mu);
    state_->collectors.erase(id);
  }
  if (observer_) observer_(id, false);
}

void MetricsRegistry::Suspend(const std::string& owner) {
  std::lock_guard lock(state_->mu);
  state_->suspended.insert(owner);
}

void MetricsRegistry::Resume(const std::string& owner) {
  std::lock_guard lock(state_->mu);
  state_->suspended.erase(owner);
}

size_t MetricsRegistry::Count(const std::string& owner) const {
  std::lock_guard lock(state_->mu);
  size_t n = 0;
  for (const auto& [id, entry] : state_->collectors) n += entry.owner == owner ? 1 : 0;
  return n;
}

std::vector<MetricFamily> MetricsRegistry::Collect() const {
  std::vector<Collector> collectors;
  {
    std::lock_guard lock(state_->mu);
    for (const auto& [id, entry] : state_->collectors) {
      if (!state_->suspended.contains(entry.owner)) collectors.push_back(entry.collector);
    }
  }
  std::vector<MetricFamily> raw;
  for (const auto& c : collectors) c(raw);
  // A family may come from several collectors (each plugin's state): merge by name, in order.
  std::vector<MetricFamily> merged;
  std::map<std::string, size_t> index;
  for (auto& f : raw) {
    auto [it, fresh] = index.emplace(f.name, merged.size());
    if (fresh) {
      merged.push_back(std::move(f));
    } else {
      auto& target = merged[it->second].samples;
      target.insert(target.end(), std::make_move_iterator(f.samples.begin()),
                    std::make_move_iterator(f.samples.end()));
    }
  }
  return merged;
}

std::string RenderPrometheus(const std::vector<MetricFamily>& families) {
  std::string out;
  for (const auto& f : families) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.name, EscapeHelp(f.help), f.name, f.type);
    for (const auto& s : f.samples) {
      out += f.name;
      out += s.suffix;
      if (!s.labels.empty()) {
        out += '{';
        for (size_t i = 0; i < s.labels.size(); ++i) {
          if (i > 0) out += ',';
          out += s.labels[i].first + "=\"" + EscapeLabel(s.labels[i].second) + "\"";
        }
        out += '}';
      }
      out += ' ';
      out += Number(s.value);
      out += '\n';
    }
  }
  return out;
}

void AddHistogram(MetricFamily& family, const Labels& labels, const std::vector<double>& bounds,
                  const std::vector<uint64_t>& cumulative_buckets, double sum, uint64_t count) {
  for (size_t i = 0; i < cumulative_buckets.size(); ++i) {
    Labels l = labels;
    l.emplace_back("le", i < bounds.size() ? Number(bounds[i]) : "+Inf");
    family.samples.push_back({"_bucket", std::move(l), static_cast<double>(cumulative_buckets[i])});
  }
  family.samples.push_back({"_sum", labels, sum});
  family.samples.push_back({"_count", labels, static_cast<double>(count)});
}

void AddValue(std::vector<MetricFamily>& out, std::string name, std::string help, std::string type,
              double value) {
  out.push_back({std::move(name), std::move(help), std::move(type), {{"", {}, value}}});
}

}  // namespace sg
