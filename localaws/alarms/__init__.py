"""CloudWatch metric-alarm evaluation for the local endpoint.

moto stores alarms (``PutMetricAlarm``) but never evaluates them. :class:`AlarmEvaluator`
walks every account and region of moto's CloudWatch backend, evaluates each metric
alarm against the stored metric data the way CloudWatch does, records state changes
through the backend's ``set_alarm_state`` (so ``DescribeAlarms`` shows them) and
publishes CloudWatch's alarm notification to the SNS topics among the alarm's actions
(moto's SNS then delivers it to the topic's subscribers, for example an SQS queue).

Evaluation rules, as documented by CloudWatch ("Using Amazon CloudWatch alarms",
sections *Evaluating an alarm* and *How alarm state is evaluated when data is missing*):

* Each period is one datapoint: the alarm's statistic over the raw values whose
  timestamp falls in ``[start, start + Period)``; periods are aligned on multiples of
  ``Period`` since the epoch (one-minute periods start on the minute).
* Only the metric with exactly the alarm's namespace, name and dimension set counts
  (a metric with an extra dimension is another metric), and, when the alarm has a
  ``Unit``, only values published with that unit.
* ``EvaluationPeriods`` is N, ``DatapointsToAlarm`` is M (N when not set).
* The *evaluation range* holds more periods than N: :data:`EXTRA_PERIODS` more (the
  documentation's examples retrieve 5 datapoints for N = 3; the exact number is not
  documented). Within it:

  - when at least N datapoints exist, the N most recent existing datapoints are
    evaluated (missing periods in between do not matter, the treatment of missing
    data is not used);
  - when fewer exist, every existing datapoint is evaluated and the most recent missing
    periods are filled in until there are N, as few as possible, with the alarm's
    ``TreatMissingData``: ``breaching`` and ``notBreaching`` count them as breaching or
    not; ``missing`` and ``ignore`` leave them out, and the alarm goes to ALARM when M
    existing datapoints breach, to OK when an existing datapoint does not breach, and
    otherwise ``ignore`` keeps the current state while ``missing`` goes to
    INSUFFICIENT_DATA (or to ALARM when the oldest evaluated datapoint breaches, as in
    the last row of the documentation's first table);
  - when the whole range is empty: ``missing`` gives INSUFFICIENT_DATA, ``ignore``
    keeps the state, ``breaching`` gives ALARM, ``notBreaching`` gives OK;
  - alarms on ``AWS/DynamoDB`` metrics always treat missing data as ``ignore``.

  So, as on AWS, an alarm keeps re-evaluating its last datapoints for a few periods
  after a metric stops flowing (an ``Errors`` alarm stays in ALARM until its last
  error leaves the evaluation range, unless newer non-breaching datapoints arrive).
* ALARM when at least M evaluated datapoints breach, otherwise OK.
* A new alarm starts in INSUFFICIENT_DATA ("Unchecked: Initial alarm creation"); updating
  an alarm with ``PutMetricAlarm`` keeps its state and history.
* ``SetAlarmState`` sets a state until the next evaluation; when it changes the state,
  the actions of the new state run, as on AWS.
* On every state change the actions of the new state run (``AlarmActions`` for ALARM,
  ``OKActions`` for OK, ``InsufficientDataActions`` for INSUFFICIENT_DATA), unless
  ``ActionsEnabled`` is false; no action runs while the state stays the same.
* Percentiles (``ExtendedStatistic`` ``pNN``/``pNN.N``) use the nearest-rank method over
  the raw values. ``EvaluateLowSampleCountPercentile=ignore`` keeps the state while an
  evaluated datapoint has fewer than 10/(1-p) samples (10/p below p50).

Deliberate differences from CloudWatch in the default profile (the local endpoint is
built for a workshop that must be quick):

* CloudWatch evaluates once a minute, on complete periods only. The local evaluator
  runs every ``interval_s`` seconds (1 s by default) and the evaluation range ends with
  the *current, still incomplete* period, so an alarm reacts a few seconds after a
  failure instead of minutes. A statistic of the current period can still change as
  values arrive (a Sum or a Maximum grows during the period).
* The evaluation range is N + :data:`EXTRA_PERIODS` periods for every period length and
  resolution.
* Percentiles are exact nearest-rank values (CloudWatch approximates them). A period
  with a statistic set (``StatisticValues``) has a percentile only when all its values
  are equal (``Minimum == Maximum``); otherwise the period counts as missing.
* Not evaluated, with a StateReason saying so and the state INSUFFICIENT_DATA: alarms on
  metric math or several metrics (``Metrics=[...]``), composite alarms, anomaly-detection
  operators (``LessThanLowerOrGreaterThanUpperThreshold``, ``LessThanLowerThreshold``,
  ``GreaterThanUpperThreshold``) and statistics other than SampleCount, Average, Sum,
  Minimum, Maximum and pNN.
* Only SNS actions run. Other actions (Lambda, EC2, Auto Scaling, Systems Manager) are
  logged and skipped; an SNS topic that does not exist is logged and skipped (AWS does
  not validate actions either). No "Action" history items are recorded.
* The notification's ``Subject`` is cut to the 100 characters SNS accepts.
* Before a new alarm's first evaluation, ``DescribeAlarms`` may show moto's initial
  state (OK) unless :func:`install` has patched moto (``AlarmEvaluator.start`` does).
* moto does not implement ``DescribeAlarmHistory``; :func:`history_items` builds its
  ``AlarmHistoryItems`` (state updates only) from what moto records.

In the AWS timing profile (:mod:`localaws.profile`) the evaluator keeps CloudWatch's
cadence instead: once every 60 s times the time scale, on complete periods only
(``AlarmEvaluator(interval_s, complete_periods=True)``).

Modules: ``evaluation`` (one alarm: datapoints, outcome, reason), ``evaluator`` (the
loop over every alarm and moto's ``PutMetricAlarm``), ``notifications`` (the SNS
message), ``history`` (``DescribeAlarmHistory``).
"""

from localaws.alarms.evaluation import ALARM, EXTRA_PERIODS, INITIAL_REASON, INSUFFICIENT_DATA, OK
from localaws.alarms.evaluator import AlarmEvaluator, StateChange, install, uninstall
from localaws.alarms.history import history_items, serve_alarm_history

__all__ = [
    "ALARM",
    "EXTRA_PERIODS",
    "INITIAL_REASON",
    "INSUFFICIENT_DATA",
    "OK",
    "AlarmEvaluator",
    "StateChange",
    "history_items",
    "install",
    "serve_alarm_history",
    "uninstall",
]
