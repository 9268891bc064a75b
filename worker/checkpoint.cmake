# strata_checkpoint: safetensors files, Hugging Face checkpoints, config.json, named shapes.
add_library(strata_checkpoint
  ${CMAKE_CURRENT_LIST_DIR}/safetensors.cc
  ${CMAKE_CURRENT_LIST_DIR}/safetensors_writer.cc
  ${CMAKE_CURRENT_LIST_DIR}/model_config.cc
  ${CMAKE_CURRENT_LIST_DIR}/model_shapes.cc)
target_link_libraries(strata_checkpoint
  PUBLIC strata_base absl::status absl::statusor
  PRIVATE absl::strings nlohmann_json::nlohmann_json Threads::Threads)
