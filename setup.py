"""Pip install of gato_ros's ROS-free parts, for people who only tokenize, train and evaluate.

`pip install -e .` gives the core (tokenizer, model, policy, data, training), the MuJoCo
simulator and the `gato-ros` command. The ROS 2 package itself (generated messages, nodes in
lib/gato_ros, launch files) is built by colcon from CMakeLists.txt and package.xml.
"""

from setuptools import find_packages, setup

setup(
    name='gato_ros',
    version='0.1.0',
    description='A Gato-style generalist transformer policy for ROS 2 arms.',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(include=['gato_ros', 'gato_ros.*']),
    package_data={'gato_ros': ['assets/text/*', 'sim/robots/*.urdf']},
    install_requires=[
        'numpy>=1.24',
        'torch>=2.1',
        'transformers>=4.44',
        'safetensors>=0.4',
        'sentencepiece>=0.2',
        'tqdm>=4.60',
        'psutil>=5.9',
    ],
    extras_require={
        'sim': ['mujoco>=3.2', 'opencv-python-headless>=4.8', 'imageio>=2.30',
                'matplotlib>=3.7'],
        'data': ['rosbags>=0.10'],
        'train': ['accelerate>=0.30'],
    },
    entry_points={'console_scripts': ['gato-ros = gato_ros.cli:main']},
)
