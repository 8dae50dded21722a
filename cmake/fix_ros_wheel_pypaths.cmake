# Only for ROS 2 from PyPI wheels (a Python venv as the ament prefix); a real /opt/ros install
# never needs it. The Makefile passes it as -DCMAKE_PROJECT_INCLUDE=<this file>.
#
# The wheels export *__rosidl_generator_py targets whose INTERFACE_INCLUDE_DIRECTORIES name the
# wheel builder's interpreter (/opt/python/cpXY-cpXY/...), which does not exist here, so CMake
# refuses to configure. At the end of configure, swap those paths for this interpreter's Python
# and NumPy include directories.
function(gato_ros_fix_wheel_python_includes)
  find_package(Python3 REQUIRED COMPONENTS Interpreter Development.Module NumPy)
  get_property(imported_targets DIRECTORY "${CMAKE_SOURCE_DIR}" PROPERTY IMPORTED_TARGETS)
  foreach(target IN LISTS imported_targets)
    get_target_property(includes ${target} INTERFACE_INCLUDE_DIRECTORIES)
    if(includes AND includes MATCHES "/opt/python/cp")
      list(FILTER includes EXCLUDE REGEX "^/opt/python/cp")
      list(APPEND includes ${Python3_INCLUDE_DIRS} ${Python3_NumPy_INCLUDE_DIRS})
      set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${includes}")
    endif()
  endforeach()
endfunction()
cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL gato_ros_fix_wheel_python_includes)
