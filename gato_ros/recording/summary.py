"""What a bag conversion kept, what it left out and why (printable, JSON-serializable)."""

from dataclasses import asdict, dataclass, field

# Why an episode (or a whole bag, episode None) was left out.
SKIP_REASONS = {
    'unreadable_bag': 'the bag could not be opened or read to its end',
    'missing_topic': 'a required topic is not in the bag',
    'wrong_type': 'a configured topic carries another message type',
    'unknown_joints': 'configured joints are not named by the joint states or trajectory',
    'wrong_frame': 'every commanded twist is in another frame than twist_frame_id',
    'no_task': 'no task name: no task status and no task override',
    'unsuccessful': 'the task status reported no success',
    'empty': 'no control tick where every stream has data',
    'too_many_dropped_ticks': 'more ticks dropped than max_dropped_tick_fraction allows',
    'too_short': 'fewer timesteps than min_steps',
    'mixed_image_sizes': 'a camera changed its image size within the episode',
    'invalid_episode': 'the assembled arrays failed Episode validation',
}


@dataclass
class SkippedEpisode:
    """One episode, or a whole bag, that the conversion left out.

    Attributes:
        bag: Path of the bag.
        episode: Index of the episode in the bag, None when the whole bag was left out.
        reason: A key of :data:`SKIP_REASONS`.
        detail: Human-readable explanation naming what was expected and what came.
    """

    bag: str
    episode: int | None
    reason: str
    detail: str

    def __post_init__(self):
        """Check the reason.

        Raises:
            ValueError: On a reason that is not in :data:`SKIP_REASONS`.
        """
        if self.reason not in SKIP_REASONS:
            raise ValueError(
                f'skip reason must be one of {sorted(SKIP_REASONS)}, got {self.reason!r}')

    def __str__(self):
        """Return ``bag[ episode i]: reason (detail)``."""
        where = self.bag if self.episode is None else f'{self.bag} episode {self.episode}'
        return f'{where}: {self.reason} ({self.detail})'


@dataclass
class ConversionSummary:
    """Counts of one conversion run, over one or several bags.

    Attributes:
        bags: Number of bags handled.
        bags_cached: How many of them came from the cache without decoding.
        episodes_used: Episodes written.
        steps_used: Timesteps in the written episodes.
        ticks_total: Control ticks sampled in the episodes that reached alignment.
        ticks_dropped: cause (e.g. ``'no fresh message on /camera/image_raw'``) -> ticks
            dropped for it; a tick counts once, under its first cause.
        bad_messages: topic -> messages that could not be decoded or were inconsistent.
        skipped: The :class:`SkippedEpisode` entries.
    """

    bags: int = 0
    bags_cached: int = 0
    episodes_used: int = 0
    steps_used: int = 0
    ticks_total: int = 0
    ticks_dropped: dict = field(default_factory=dict)
    bad_messages: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)

    @property
    def total_dropped(self):
        """Number of dropped ticks over all causes.

        Returns:
            int: The sum of :attr:`ticks_dropped`.
        """
        return sum(self.ticks_dropped.values())

    def skip(self, bag, episode, reason, detail):
        """Record a left-out episode or bag.

        Args:
            bag: Path of the bag.
            episode: Episode index, or None for the whole bag.
            reason: A key of :data:`SKIP_REASONS`.
            detail: Explanation.
        """
        self.skipped.append(SkippedEpisode(str(bag), episode, reason, detail))

    def add_dropped(self, cause, count):
        """Add dropped ticks under a cause.

        Args:
            cause: What was missing.
            count: Number of ticks.
        """
        if count:
            self.ticks_dropped[cause] = self.ticks_dropped.get(cause, 0) + int(count)

    def add_bad_message(self, topic):
        """Count one unusable message.

        Args:
            topic: Its topic.
        """
        self.bad_messages[topic] = self.bad_messages.get(topic, 0) + 1

    def merge(self, other):
        """Add another summary's counts to this one.

        Args:
            other: A :class:`ConversionSummary`.
        """
        for name in ('bags', 'bags_cached', 'episodes_used', 'steps_used', 'ticks_total'):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for cause, count in other.ticks_dropped.items():
            self.add_dropped(cause, count)
        for topic, count in other.bad_messages.items():
            self.bad_messages[topic] = self.bad_messages.get(topic, 0) + count
        self.skipped.extend(other.skipped)

    def to_dict(self):
        """Return a JSON-serializable dict.

        Returns:
            dict: Every field; ``skipped`` as a list of dicts.
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        """Build a summary from :meth:`to_dict` output.

        Args:
            data: The dict.

        Returns:
            ConversionSummary: The summary.

        Raises:
            ValueError: When a field is missing or malformed.
        """
        try:
            values = dict(data)
            values['skipped'] = [SkippedEpisode(**item) for item in data['skipped']]
            return cls(**values)
        except (KeyError, TypeError) as error:
            raise ValueError(f'invalid conversion summary dict: {error}') from error

    def __str__(self):
        """Return a multi-line report: bags, episodes, ticks, bad messages, skips."""
        lines = [
            f'bags: {self.bags} ({self.bags_cached} from cache)',
            f'episodes: {self.episodes_used} used ({self.steps_used} steps), '
            f'{len(self.skipped)} skipped',
            f'ticks: {self.ticks_total} sampled, {self.total_dropped} dropped']
        lines += [f'  dropped, {cause}: {count}'
                  for cause, count in sorted(self.ticks_dropped.items())]
        if self.bad_messages:
            lines.append('bad messages: ' + ', '.join(
                f'{topic}: {count}' for topic, count in sorted(self.bad_messages.items())))
        if self.skipped:
            lines.append('skipped:')
            lines += [f'  {item}' for item in self.skipped]
        return '\n'.join(lines)
