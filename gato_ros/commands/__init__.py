"""Sub-commands of the ``gato-ros`` command line, one module each (see ``gato_ros.cli``)."""
