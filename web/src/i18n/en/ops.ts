// Strings of the ops feature (see ../index.tsx). Keys are prefixed by the feature's area.
const m = {
} as const;

export default m;
