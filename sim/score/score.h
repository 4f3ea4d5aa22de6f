// `twinrig score`: how close a twin made in the virtual studio is to the truth (ETH3D style,
// reconstruct/score.h), the truth being the head scan the studio rendered, at its subject pose.
#pragma once

#include <filesystem>
#include <string>

#include "reconstruct/score.h"
#include "util/result.h"

namespace twinrig::sim::score {

// Scores <studio>/sessions/<id>/twin/<level>/twin.ply against the virtual studio's head in
// <studio>/sim/<rig>/groundtruth.json and writes twin/<level>/metrics.json (with the recall of
// the level's fused points when its workspace is still there). `head_hint` is where
// the head scan is (empty: found as the virtual studio finds it).
Result<reconstruct::Metrics> ScoreSession(const std::filesystem::path& studio,
                                          const std::string& session_id, const std::string& level,
                                          const std::filesystem::path& head_hint = {},
                                          const reconstruct::ScoreOptions& options = {});

}  // namespace twinrig::sim::score
