// Adding behaviour to ComfyUI's node and widget callbacks without losing what is already there.

/**
 * Run `callback` after whatever `object[property]` already does (the pattern ComfyUI's own
 * extensions use): the original runs first with the same `this` and arguments, and its return
 * value is kept.
 */
export function chainCallback(object, property, callback) {
  const original = object[property];
  object[property] = function (...args) {
    const result = original?.apply(this, args);
    callback.apply(this, args);
    return result;
  };
}
