# twinrig_flatbuffers(TARGET SCHEMAS a.fbs b.fbs)
#   Compiles FlatBuffers schemas with Debian's flatc into the build tree (generated code is never
#   committed) and makes TARGET depend on them. The headers land beside the schema's folder in the
#   build tree, so `protocol/node.fbs` is included as "protocol/node_generated.h".
find_program(FLATC flatc REQUIRED)
find_package(FlatBuffers REQUIRED)

function(twinrig_flatbuffers target)
  cmake_parse_arguments(ARG "" "" "SCHEMAS" ${ARGN})
  set(outputs)
  foreach(schema ${ARG_SCHEMAS})
    get_filename_component(stem ${schema} NAME_WE)
    set(out ${CMAKE_CURRENT_BINARY_DIR}/${stem}_generated.h)
    add_custom_command(
      OUTPUT ${out}
      COMMAND ${FLATC} --cpp --scoped-enums --gen-object-api -o ${CMAKE_CURRENT_BINARY_DIR}
              ${CMAKE_CURRENT_SOURCE_DIR}/${schema}
      DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${schema} ${FLATC}
      COMMENT "flatc ${schema}")
    list(APPEND outputs ${out})
  endforeach()
  add_custom_target(${target}_schemas DEPENDS ${outputs})
  add_dependencies(${target} ${target}_schemas)
  target_link_libraries(${target} PUBLIC flatbuffers::flatbuffers_shared)
endfunction()
