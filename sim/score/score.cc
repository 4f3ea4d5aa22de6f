#include "sim/score/score.h"

#include <nlohmann/json.hpp>

#include "host/studio/studio_paths.h"
#include "sim/layout/layout.h"
#include "sim/render/renderer.h"
#include "util/files.h"

namespace twinrig::sim::score {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// The head scan in the world, where the truth puts the subject.
Result<reconstruct::Mesh> TrueHead(const layout::GroundTruth& truth, const fs::path& head_hint) {
  TWINRIG_ASSIGN_OR_RETURN(const fs::path head, render::FindHeadData(head_hint));
  render::RendererOptions ro;
  ro.supersamples = 1;
  TWINRIG_ASSIGN_OR_RETURN(const auto renderer, render::Renderer::Create(head, truth, ro));
  reconstruct::Mesh gt;
  for (const auto& p : renderer->HeadVertices()) {
    const auto w = layout::Apply(truth.subject_R, {p.x, p.y, p.z});
    gt.vertices.emplace_back(static_cast<float>(w[0] + truth.subject_t[0]),
                             static_cast<float>(w[1] + truth.subject_t[1]),
                             static_cast<float>(w[2] + truth.subject_t[2]));
  }
  for (const auto& t : renderer->HeadTriangles()) gt.faces.push_back(t);
  return gt;
}

// The true cameras at a quarter of the sensor: plenty for deciding what a camera sees.
std::vector<reconstruct::PinholeView> TrueCameras(const layout::GroundTruth& truth) {
  std::vector<reconstruct::PinholeView> cameras;
  for (const auto& c : truth.cameras) {
    reconstruct::PinholeView v;
    v.serial = c.serial;
    const double s = 0.25;
    v.width = static_cast<int>(c.intrinsics.width * s);
    v.height = static_cast<int>(c.intrinsics.height * s);
    v.fx = c.intrinsics.fx * s;
    v.fy = c.intrinsics.fy * s;
    v.cx = (c.intrinsics.cx + 0.5) * s - 0.5;
    v.cy = (c.intrinsics.cy + 0.5) * s - 0.5;
    v.SetPose(c.R, c.t);
    cameras.push_back(v);
  }
  return cameras;
}

}  // namespace

Result<reconstruct::Metrics> ScoreSession(const fs::path& studio, const std::string& session_id,
                                          const std::string& level, const fs::path& head_hint,
                                          const reconstruct::ScoreOptions& options) {
  const ::twinrig::studio::StudioPaths paths(studio);
  const fs::path session = paths.SessionFolder(session_id);
  auto session_text = ReadFileText(session / "session.json");
  if (!session_text.ok()) {
    return MakeError("no session " + session_id + " in this studio",
                     (session / "session.json").string(),
                     "list sessions with `twinrig session list`");
  }
  const json sj = json::parse(*session_text, nullptr, false);
  const std::string rig = sj.is_object() ? sj.value("rig", "") : "";
  if (auto twin = reconstruct::SessionTwinMesh(session, session_id, level); !twin.ok()) {
    return twin.error();
  }
  const fs::path truth_json = paths.SimFolder() / rig / "groundtruth.json";
  auto truth = layout::ReadGroundTruth(truth_json);
  if (!truth.ok()) {
    return MakeError("no ground truth for rig '" + rig + "': scoring needs the virtual studio's " +
                         "groundtruth.json",
                     truth_json.string(),
                     "score twins made in the virtual studio (`twinrig sim up`)");
  }
  TWINRIG_ASSIGN_OR_RETURN(const reconstruct::Mesh head, TrueHead(*truth, head_hint));
  return reconstruct::ScoreSessionTwin(
      session, session_id, level, head, TrueCameras(*truth),
      "virtual studio ground truth: head scan at the subject pose of sim/" + rig +
          "/groundtruth.json",
      options);
}

}  // namespace twinrig::sim::score
