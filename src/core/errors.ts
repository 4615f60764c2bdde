/**
 * Errors thrown by genloss. Every message names the loss (or component), the argument, what was
 * expected and what was given, so that a user can fix a config or a call without reading code.
 */
export class GenlossError extends Error {
  override name = 'GenlossError';
}

/** A config object or file is invalid: unknown `type`, unknown key, wrong type or value. */
export class ConfigError extends GenlossError {
  override name = 'ConfigError';
}

/** A tensor argument has the wrong rank, shape or dtype. Raised before any math runs. */
export class ShapeError extends GenlossError {
  override name = 'ShapeError';
}

/** A `data_info` mapping names an output that the model's outputs dict does not have. */
export class DataInfoError extends GenlossError {
  override name = 'DataInfoError';
}

/** A weight file or manifest is truncated, malformed or does not fit the network. */
export class WeightsError extends GenlossError {
  override name = 'WeightsError';
}

/**
 * A loss, or a running statistic a loss keeps, went NaN or infinite. `lossKey` names the loss and
 * `log` holds the values logged when it happened (`GANWithCustomizedLoss` returns them for a step
 * it skips). State the failed computation would have updated is left as it was.
 */
export class NonFiniteLossError extends GenlossError {
  override name = 'NonFiniteLossError';
  constructor(
    message: string,
    readonly lossKey: string,
    readonly log: Readonly<Record<string, number>> = {},
  ) {
    super(message);
  }
}

/**
 * A training checkpoint is unreadable, corrupt (its checksum does not match), made with another
 * config, or holds a field that does not fit the trainer; the message names the field.
 */
export class CheckpointError extends GenlossError {
  override name = 'CheckpointError';
}

/** A data file cannot be used: not a regular file, too large, undecodable. Names the file. */
export class DataError extends GenlossError {
  override name = 'DataError';
}

/**
 * A work directory cannot take this run: it holds another run, another process trains in it,
 * or it is not writable.
 */
export class RunDirError extends GenlossError {
  override name = 'RunDirError';
}

/**
 * A config asks for more than fits: the message names the config key, the estimate and the
 * limit.
 */
export class ResourceLimitError extends ConfigError {
  override name = 'ResourceLimitError';
}
